// The SageMaker error decoder: the first line is the x-amzn-ErrorType header, the rest the body.
import FuzzDriver
import HTTP
@testable import SageMakerRuntime
@testable import Summarizer

@_cdecl("FuzzSageMakerError_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    let newline = bytes.firstIndex(of: 10) ?? bytes.count
    let header = String(decoding: bytes[..<newline], as: UTF8.self)
    let body = Array(bytes[min(newline + 1, bytes.count)...])
    for status in [400, 403, 424, 429, 500, 503] {
        let error = SageMakerError.from(status: status, headers: [HTTPHeader(name: "x-amzn-ErrorType", value: header)], body: body)
        let failure = Failure.upstream(error)
        guard (400...599).contains(failure.status), !failure.message(for: .caller).isEmpty else { fatalError("bad mapping \(failure)") }
    }
    return 0
}
