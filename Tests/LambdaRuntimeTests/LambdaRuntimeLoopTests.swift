import Foundation
import Testing
import TestHTTPServer
@testable import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif

private struct EchoHandler: LambdaHandler {
    var invocations = 0
    /// Called from `afterResponse`, so a test can see when that ran.
    var onAfterResponse: () -> Void = {}

    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> Data {
        invocations += 1
        if invocation.event == Data("fail".utf8) {
            throw FunctionError(type: "Boom", message: "failed on invocation \(invocations)")
        }
        return Data("echo:".utf8) + invocation.event
    }

    mutating func afterResponse() { onAfterResponse() }
}

private func event(_ requestID: String, _ body: String) -> ScriptedResponse {
    ScriptedResponse(
        status: 200,
        headers: [("Lambda-Runtime-Aws-Request-Id", requestID), ("Lambda-Runtime-Deadline-Ms", "4102444800000")],
        body: body)
}

@Suite struct LambdaRuntimeLoopTests {
    @Test(arguments: [[:], ["AWS_LAMBDA_RUNTIME_API": ""]] as [[String: String]])
    func withoutTheRuntimeAPIEndpointRunFails(environment: [String: String]) throws {
        let capture = try LogCapture()
        let logger = Logger(format: .json, fileDescriptor: capture.writeFD)

        let status = LambdaRuntime.run(environment: environment, logger: logger) { EchoHandler() }

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
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: logger
        ) { () throws(FunctionError) -> EchoHandler in
            throw FunctionError(type: "ConfigurationError", message: "ENDPOINT_NAME is not set")
        }

        #expect(status == 1)
        let requests = server.requests
        try #require(requests.count == 1, "no /next after a failed init: \(requests.map(\.path))")
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/2018-06-01/runtime/init/error")
        #expect(requests[0].header("Lambda-Runtime-Function-Error-Type") == "Function.ConfigurationError")
        let document = try jsonObject(Data(requests[0].body))
        #expect(document["errorMessage"] as? String == "ENDPOINT_NAME is not set")
        #expect(document["errorType"] as? String == "ConfigurationError")
        #expect(capture.finishLines().contains { $0.contains("FATAL") && $0.contains("ENDPOINT_NAME is not set") })
    }

    @Test(.enabled(if: getenv("_X_AMZN_TRACE_ID") == nil, "_X_AMZN_TRACE_ID is set in the test environment"))
    func afterResponseRunsEvenWhenTheAnswerCannotBePosted() throws {
        let server = try TestHTTPServer(script: [
            event("req-1", "ping"),
            ScriptedResponse(status: 500, body: "response refused"),
            ScriptedResponse(status: 500, body: "error refused too"),
        ])
        defer { server.stop() }
        let capture = try LogCapture()
        final class Calls: @unchecked Sendable { var count = 0 }
        let calls = Calls()

        let status = LambdaRuntime.run(
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: Logger(format: .json, fileDescriptor: capture.writeFD)
        ) {
            EchoHandler(onAfterResponse: { calls.count += 1 })
        }

        #expect(status == 1)
        #expect(server.requests.count == 3)
        #expect(calls.count == 1, "the invocation's deferred work still runs before the process stops")
        #expect(capture.finishLines().last?.contains("FATAL") == true)
    }

    // `run` sets or unsets `_X_AMZN_TRACE_ID` per invocation. With no trace header and the variable
    // absent, that is an `unsetenv` that changes nothing, so this test does not race other tests
    // reading the environment.
    @Test(.enabled(if: getenv("_X_AMZN_TRACE_ID") == nil, "_X_AMZN_TRACE_ID is set in the test environment"))
    func loopRespondsReportsErrorsAndTurnsA413IntoAnInvocationError() throws {
        let tooLarge = #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
        let server = try TestHTTPServer(script: [
            event("req-1", "ping"),
            ScriptedResponse(status: 202),
            event("req-2", "huge"),
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
        let status = LambdaRuntime.run(environment: ["AWS_LAMBDA_RUNTIME_API": server.authority], logger: logger) {
            EchoHandler(onAfterResponse: { seen.counts.append(server.requests.count) })
        }

        #expect(status == 1, "ends when /next fails")
        let requests = server.requests
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
        #expect(requests[1].bodyText == "echo:ping")
        #expect(requests[1].header("Lambda-Runtime-Function-Error-Type") == nil)

        #expect(requests[4].header("Lambda-Runtime-Function-Error-Type") == "Runtime.ResponseTooLarge")
        let rejected = try jsonObject(Data(requests[4].body))
        #expect(rejected["errorType"] as? String == "ResponseTooLarge")
        #expect((rejected["errorMessage"] as? String)?.contains("413") == true)

        #expect(requests[6].header("Lambda-Runtime-Function-Error-Type") == "Function.Boom")
        let failed = try jsonObject(Data(requests[6].body))
        #expect(failed["errorType"] as? String == "Boom")
        #expect(failed["errorMessage"] as? String == "failed on invocation 3", "the handler keeps its state across invocations")

        #expect(server.acceptedConnections == 1)
        let lines = capture.finishLines()
        #expect(lines.contains { $0.contains("Runtime API rejected the response") && $0.contains("\"requestId\":\"req-2\"") })
        #expect(lines.last?.contains("FATAL") == true)
        #expect(getenv("_X_AMZN_TRACE_ID") == nil)
    }
}
