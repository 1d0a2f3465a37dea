// Runtime API answers: header lines as libcurl hands them over, then the /next headers.
import Foundation
import FuzzDriver
@testable import HTTPClient
@testable import LambdaRuntime

@_cdecl("FuzzRuntimeHeaders_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let sink = ResponseSink()
    let bytes = UnsafeRawBufferPointer(start: start, count: count)
    var lineStart = 0
    for index in 0..<bytes.count where bytes[index] == 10 {
        sink.appendHeaderLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart...index]))
        lineStart = index + 1
    }
    let response = HTTPResponse(status: 200, headers: sink.headers, body: Data())
    if let context = try? LambdaContext(nextResponseHeaders: response) {
        guard !context.requestID.isEmpty, context.deadlineMilliseconds > 0 else { fatalError("accepted an invalid context") }
        let segment = RuntimeClient.pathSegment(context.requestID)
        guard !segment.contains("/"), !segment.contains("?"), !segment.contains("#") else { fatalError("request id escaped its path segment") }
    }
    return 0
}
