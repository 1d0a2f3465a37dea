import Foundation
import Testing
import TestHTTPServer
@testable import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif

private struct EchoHandler: LambdaHandler {
    var invocations = 0
    /// Called from `afterResponse`, so a test can see when that ran and what it was told.
    var onAfterResponse: (Delivery) -> Void = { _ in }
    /// Called from `handle`, so a test can see what the invocation looked like from inside.
    var onHandle: (Invocation) -> Void = { _ in }

    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> [UInt8] {
        invocations += 1
        onHandle(invocation)
        if invocation.event == Array("fail".utf8) {
            throw FunctionError(type: "Boom", message: "failed on invocation \(invocations)")
        }
        if invocation.event == Array("huge".utf8) {
            return [UInt8](repeating: UInt8(ascii: "x"), count: LambdaRuntime.maximumResponseBytes + 1)
        }
        return Array("echo:".utf8) + invocation.event
    }

    mutating func afterResponse(_ delivery: Delivery) { onAfterResponse(delivery) }
}

private func event(_ requestID: String, _ body: String, trace: String? = nil) -> ScriptedResponse {
    ScriptedResponse(
        status: 200,
        headers: [("Lambda-Runtime-Aws-Request-Id", requestID), ("Lambda-Runtime-Deadline-Ms", "4102444800000")]
            + (trace.map { [("Lambda-Runtime-Trace-Id", $0)] } ?? []),
        body: body)
}

/// What `afterResponse` was told, in order.
private final class Deliveries: @unchecked Sendable {
    var list: [Delivery] = []
}

/// Runs the loop with an echo handler against `server` until it stops: its exit status, what
/// `afterResponse` was told, and the log (JSON lines).
private func runEchoLoop(against server: TestHTTPServer) throws -> (Int32, Deliveries, LogCapture) {
    let capture = try LogCapture()
    let deliveries = Deliveries()
    let status = LambdaRuntime.run(
        environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry
    ) {
        { EchoHandler(onAfterResponse: { deliveries.list.append($0) }) }
    }
    return (status, deliveries, capture)
}

@Suite struct LambdaRuntimeLoopTests {
    @Test(arguments: [[:], ["AWS_LAMBDA_RUNTIME_API": ""]] as [[String: String]])
    func withoutTheRuntimeAPIEndpointRunFails(environment: [String: String]) throws {
        let capture = try LogCapture()
        let logger = Logger(format: .json, fileDescriptor: capture.writeFD)

        let status = LambdaRuntime.run(environment: environment, logger: logger, retry: quickRetry) { { EchoHandler() } }

        #expect(status == 1)
        let lines = capture.finishLines()
        try #require(lines.count == 1, "\(lines)")
        let object = try jsonObject(lines[0])
        #expect(object["level"] as? String == "FATAL")
        #expect((object["message"] as? String)?.contains("AWS_LAMBDA_RUNTIME_API") == true)
    }

    @Test func failedInitialisationIsReportedToTheInitEndpoint() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202)])
        defer { server.stop() }
        let capture = try LogCapture()
        let logger = Logger(format: .json, fileDescriptor: capture.writeFD)

        let status = LambdaRuntime.run(
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: logger, retry: quickRetry
        ) { () throws(FunctionError) -> (() throws(FunctionError) -> EchoHandler) in
            throw FunctionError(type: "ConfigurationError", message: "ENDPOINT_NAME is not set")
        }

        #expect(status == 1)
        let requests = server.requests
        try #require(requests.count == 1, "no /next after a failed init: \(requests.map(\.path))")
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/2018-06-01/runtime/init/error")
        #expect(requests[0].header("Lambda-Runtime-Function-Error-Type") == "Function.ConfigurationError")
        let document = try jsonObject(requests[0].body)
        #expect(document["errorMessage"] as? String == "ENDPOINT_NAME is not set")
        #expect(document["errorType"] as? String == "ConfigurationError")
        #expect(capture.finishLines().contains { $0.contains("FATAL") && $0.contains("ENDPOINT_NAME is not set") })
    }

    /// The Runtime API contract: a 500 on a post is a non-recoverable state, so the runtime exits
    /// at once (no attempt at `/error`), after the invocation's own deferred work.
    @Test func a500OnResponseEndsTheProcessPromptlyAfterTheInvocationIsLoggedAsFailed() throws {
        let server = try TestHTTPServer(script: [
            event("req-1", "ping"),
            ScriptedResponse(status: 500, body: "response refused"),
        ])
        defer { server.stop() }
        let (status, deliveries, capture) = try runEchoLoop(against: server)

        #expect(status == 1)
        #expect(server.requests.map(\.path) == ["/2018-06-01/runtime/invocation/next", "/2018-06-01/runtime/invocation/req-1/response"])
        #expect(deliveries.list == [.failed], "the invocation's deferred work runs, told the answer was not delivered")
        let lines = capture.finishLines()
        #expect(lines.count == 1)
        #expect(lines.last?.contains("FATAL") == true && lines.last?.contains("answered 500") == true, "\(lines)")
    }

    @Test func loopRespondsReportsErrorsAndTurnsA413IntoAnInvocationError() throws {
        let tooLarge = #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
        let server = try TestHTTPServer(script: [
            event("req-1", "ping"),
            ScriptedResponse(status: 202),
            event("req-2", "pong"),
            ScriptedResponse(status: 413, body: tooLarge),
            ScriptedResponse(status: 202),
            event("req-3", "fail"),
            ScriptedResponse(status: 202),
            ScriptedResponse(status: 500, body: "Runtime API shutting down"),
        ])
        defer { server.stop() }
        let capture = try LogCapture()
        let logger = Logger(format: .json, fileDescriptor: capture.writeFD)

        // How many requests the Runtime API had seen each time `afterResponse` ran.
        final class Seen: @unchecked Sendable { var counts: [Int] = [] }
        let seen = Seen()
        let deliveries = Deliveries()
        let status = LambdaRuntime.run(environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: logger, retry: quickRetry) {
            { EchoHandler(onAfterResponse: {
                seen.counts.append(server.requests.count)
                deliveries.list.append($0)
            }) }
        }

        #expect(status == 1, "ends when /next fails")
        let requests = withoutRetries(server.requests)
        #expect(requests.map { "\($0.method) \($0.path)" } == [
            "GET /2018-06-01/runtime/invocation/next",
            "POST /2018-06-01/runtime/invocation/req-1/response",
            "GET /2018-06-01/runtime/invocation/next",
            "POST /2018-06-01/runtime/invocation/req-2/response",
            "POST /2018-06-01/runtime/invocation/req-2/error",
            "GET /2018-06-01/runtime/invocation/next",
            "POST /2018-06-01/runtime/invocation/req-3/error",
            "GET /2018-06-01/runtime/invocation/next",
        ])
        try #require(requests.count == 8)
        #expect(seen.counts == [2, 5, 7], "after each answer was posted, before the next /next")
        #expect(deliveries.list == [.posted, .tooLarge(bytes: 9), .posted])
        #expect(requests[1].bodyText == "echo:ping")
        #expect(requests[1].header("Lambda-Runtime-Function-Error-Type") == nil)

        #expect(requests[4].header("Lambda-Runtime-Function-Error-Type") == "Runtime.ResponseTooLarge")
        let rejected = try jsonObject(requests[4].body)
        #expect(rejected["errorType"] as? String == "ResponseTooLarge")
        #expect((rejected["errorMessage"] as? String)?.contains("9 bytes as too large (HTTP 413)") == true)

        #expect(requests[6].header("Lambda-Runtime-Function-Error-Type") == "Function.Boom")
        let failed = try jsonObject(requests[6].body)
        #expect(failed["errorType"] as? String == "Boom")
        #expect(failed["errorMessage"] as? String == "failed on invocation 3", "the handler keeps its state across invocations")

        #expect(Set(requests.map(\.connection)).count == 1, "one connection until /next failed")
        let lines = capture.finishLines()
        #expect(lines.contains { $0.contains("Runtime API rejected the response") && $0.contains("\"requestId\":\"req-2\"") })
        #expect(lines.last?.contains("FATAL") == true)
    }

    /// Over Lambda's limit the response is never sent (Lambda would refuse it, then refuse the
    /// error too, and the runtime would have nothing left but to exit): the error goes instead.
    @Test func aResponseOverTheLimitIsReportedAsAnErrorWithoutBeingSent() throws {
        let server = try TestHTTPServer(script: [
            event("req-1", "huge"),
            ScriptedResponse(status: 202),
            event("req-2", "ping"),
            ScriptedResponse(status: 202),
            ScriptedResponse(status: 500, body: "done"),
        ])
        defer { server.stop() }
        let (status, deliveries, capture) = try runEchoLoop(against: server)

        #expect(status == 1)
        let requests = withoutRetries(server.requests)
        #expect(requests.map(\.path) == [
            "/2018-06-01/runtime/invocation/next",
            "/2018-06-01/runtime/invocation/req-1/error",
            "/2018-06-01/runtime/invocation/next",
            "/2018-06-01/runtime/invocation/req-2/response",
            "/2018-06-01/runtime/invocation/next",
        ])
        try #require(requests.count == 5)
        #expect(requests[1].header("Lambda-Runtime-Function-Error-Type") == "Runtime.ResponseTooLarge")
        #expect(requests[1].body.count < 1024)
        #expect(deliveries.list == [.tooLarge(bytes: LambdaRuntime.maximumResponseBytes + 1), .posted])
    }

    /// 400 and 403 mean the invocation is over (answered, timed out, or the answer is not
    /// acceptable): nothing more to do for it, and no reason to stop serving the next one.
    @Test(arguments: [400, 403])
    func aRefusedPostEndsOnlyTheInvocation(status refusal: Int) throws {
        let server = try TestHTTPServer(script: [
            event("req-1", "ping"),
            ScriptedResponse(status: refusal, body: #"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#),
            event("req-2", "pong"),
            ScriptedResponse(status: 413, body: "too large"),
            ScriptedResponse(status: refusal, body: "already answered"),
            event("req-3", "ping"),
            ScriptedResponse(status: 202),
            ScriptedResponse(status: 500, body: "done"),
        ])
        defer { server.stop() }
        let (status, deliveries, capture) = try runEchoLoop(against: server)

        #expect(status == 1, "ends when /next fails")
        #expect(withoutRetries(server.requests).count == 8)
        #expect(deliveries.list == [.refused(status: refusal), .refused(status: refusal), .posted])
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("FATAL") }.count == 1)
        #expect(lines.contains { $0.contains("Runtime API refused the answer") && $0.contains("\"requestId\":\"req-1\"") })
    }

    /// The trace id belongs to the invocation (its context), never to the process: a variable
    /// set per invocation would race any thread reading the environment (the resolver does) and
    /// would mix invocations up once several run at once.
    @Test func theTraceIDStaysInTheInvocationsContext() throws {
        let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
        let server = try TestHTTPServer(script: [
            event("req-1", "ping", trace: trace),
            ScriptedResponse(status: 202),
            ScriptedResponse(status: 500, body: "done"),
        ])
        defer { server.stop() }
        let capture = try LogCapture()
        final class Seen: @unchecked Sendable { var traces: [String?] = []; var environment: [String?] = [] }
        let seen = Seen()

        _ = LambdaRuntime.run(
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry
        ) {
            { EchoHandler(onHandle: { invocation in
                seen.traces.append(invocation.context.traceID)
                seen.environment.append(getenv("_X_AMZN_TRACE_ID").map { String(cString: $0) })
            }) }
        }

        #expect(seen.traces == [trace])
        #expect(seen.environment == [nil], "the process environment does not carry an invocation's trace id")
        #expect(getenv("_X_AMZN_TRACE_ID") == nil)
    }
}
