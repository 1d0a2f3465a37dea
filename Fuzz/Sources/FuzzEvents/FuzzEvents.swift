// Event detection, envelope decoding and the HTTP front: any bytes Lambda could deliver.
import Foundation
import FuzzDriver
import JSON
@testable import LambdaEvents
@testable import Summarizer

@_cdecl("FuzzEvents_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let value = try? JSONValue(parsing: bytes) else { return 0 }
    // What the parser accepts, its writer gives back unchanged.
    guard (try? JSONValue(parsing: value.serialized())) == value else { fatalError("serialization does not round-trip") }
    switch LambdaEvent.classify(value) {
    case .direct(let payload):
        if let request = try? SummarizeRequest.from(payload) {
            let body = request.jsonValue.serialized()
            guard (try? JSONValue.validate(body)) != nil else { fatalError("invalid request JSON") }
        }
    case .http(let event):
        let front = HTTPFront(cors: CORSPolicy(allowedOrigins: ["https://news.example.com"]))
        let response: HTTPEventResponse
        if event.method == "OPTIONS" {
            response = front.preflight(event)
        } else {
            do {
                _ = try front.payload(of: event)
                response = front.success(Array("[]".utf8), for: event)
            } catch {
                response = front.failure(error, requestID: "fuzz", for: event)
            }
        }
        let encoded = response.encoded(for: event)
        // Whatever came in, what goes back must be a JSON document.
        guard (try? JSONSerialization.jsonObject(with: Data(encoded))) != nil else { fatalError("invalid response JSON") }
    }
    return 0
}
