// Base64 bodies and the UTF-8 check of text bodies.
import Foundation
import FuzzDriver
@testable import LambdaEvents
@testable import Summarizer

@_cdecl("FuzzBase64_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let data = Data(bytes: start, count: count)
    let event = HTTPEvent(kind: .httpAPI, method: "POST", body: String(decoding: data, as: UTF8.self), isBase64Encoded: true)
    if let decoded = try? event.decodedBody() {
        // Valid base64 must decode to what encoding it back gives.
        let again = HTTPEvent(kind: .httpAPI, method: "POST", body: decoded.base64EncodedString(), isBase64Encoded: true)
        guard (try? again.decodedBody()) == decoded else { fatalError("base64 round trip differs") }
    }
    if let text = String(validatingUTF8Bytes: data) {
        guard Data(text.utf8) == data else { fatalError("UTF-8 check accepted bytes it changed") }
    }
    return 0
}
