// Response heads: the Runtime API's parsed by HTTPResponseHead, SageMaker's as libcurl hands
// over its lines; then the /next headers as LambdaContext reads them.
import FuzzDriver
@testable import CurlHTTP
import HTTP
@testable import LambdaRuntime

@_cdecl("FuzzRuntimeHeaders_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: count)

    // The Runtime API's answers arrive through PlainHTTPConnection's head parser...
    if let head = try? HTTPResponseHead(parsing: ArraySlice(bytes)) {
        guard (100...999).contains(head.status) else { fatalError("accepted status \(head.status)") }
        if let length = head.contentLength, length < 0 { fatalError("negative Content-Length") }
        checkContext(HTTPResponse(status: head.status, headers: head.headers, body: []))
    }

    // ...and SageMaker's through libcurl's header callback, one line at a time.
    let sink = ResponseSink()
    var lineStart = 0
    for index in 0..<bytes.count where bytes[index] == 10 {
        _ = sink.appendHeaderLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart...index]))
        lineStart = index + 1
    }
    checkContext(HTTPResponse(status: 200, headers: sink.headers, body: []))
    return 0
}

private func checkContext(_ response: HTTPResponse) {
    guard let context = try? LambdaContext(nextResponseHeaders: response) else { return }
    guard !context.requestID.isEmpty, context.deadlineMilliseconds > 0 else { fatalError("accepted an invalid context") }
    let segment = RuntimeClient.pathSegment(context.requestID)
    guard !segment.contains("/"), !segment.contains("?"), !segment.contains("#"), segment != ".", segment != ".." else {
        fatalError("request id escaped its path segment")
    }
}
