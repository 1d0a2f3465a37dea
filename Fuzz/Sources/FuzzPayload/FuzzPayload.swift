// Payload decoding and validation: a request either decodes and re-encodes as JSON, or is
// refused with a message.
import FuzzDriver
@testable import Summarizer

@_cdecl("FuzzPayload_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    do {
        let request = try SummarizeRequest.decode(json: bytes)
        let encoded = request.jsonValue.serialized()
        guard (try? SummarizeRequest.decode(json: encoded)) == request else { fatalError("round trip changed the request") }
    } catch {
        guard !error.description.isEmpty else { fatalError("empty error message") }
    }
    return 0
}
