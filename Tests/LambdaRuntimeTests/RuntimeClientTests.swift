import Foundation
import HTTP
import Testing
import TestHTTPServer
@testable import LambdaRuntime

private let nextPath = "/2018-06-01/runtime/invocation/next"

private func invocationResponse(
    requestID: String? = "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
    deadline: String? = "1542409706888",
    extraHeaders: [(String, String)] = [],
    event: String = #"{"inputs": "Shares rose."}"#
) -> ScriptedResponse {
    var headers: [(String, String)] = [("Content-Type", "application/json")]
    if let requestID { headers.append(("Lambda-Runtime-Aws-Request-Id", requestID)) }
    if let deadline { headers.append(("Lambda-Runtime-Deadline-Ms", deadline)) }
    headers += extraHeaders
    return ScriptedResponse(status: 200, headers: headers, body: event)
}

private func runtimeError(_ body: () throws(RuntimeAPIError) -> Void) -> RuntimeAPIError? {
    do {
        try body()
        return nil
    } catch {
        return error
    }
}

@Suite struct RuntimeClientTests {
    @Test func nextParsesTheInvocation() throws {
        let clientContext = #"{"client":{"installation_id":"abc"},"custom":{"k":"v"},"env":{"platform":"Android"}}"#
        let cognito = #"{"cognitoIdentityId":"us-east-1:123","cognitoIdentityPoolId":"us-east-1:pool"}"#
        let event = #"{"inputs": "Prices rose 3% — «quoted» 📈", "parameters": {"max_length": 60}}"#
        let server = try TestHTTPServer(script: [
            invocationResponse(
                requestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
                deadline: "1542409706888",
                extraHeaders: [
                    ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:eu-west-1:123456789012:function:summarizer"),
                    ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1"),
                    ("Lambda-Runtime-Client-Context", clientContext),
                    ("Lambda-Runtime-Cognito-Identity", cognito),
                ],
                event: event),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let invocation = try client.next()

        #expect(invocation.context == LambdaContext(
            requestID: "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            deadlineMilliseconds: 1_542_409_706_888,
            invokedFunctionARN: "arn:aws:lambda:eu-west-1:123456789012:function:summarizer",
            traceID: "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            clientContext: clientContext,
            cognitoIdentity: cognito))
        #expect(invocation.event == Array(event.utf8))
        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "GET")
        #expect(requests[0].path == nextPath)
    }

    @Test func nextHeaderNamesAreCaseInsensitiveAndOptionalOnesMayBeAbsent() throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, headers: [
                ("lambda-runtime-aws-request-id", "req-lower"),
                ("LAMBDA-RUNTIME-DEADLINE-MS", "42"),
            ], body: Array([0, 1, 2, 0xFF, 0xFE])),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let invocation = try client.next()

        #expect(invocation.context == LambdaContext(requestID: "req-lower", deadlineMilliseconds: 42))
        #expect(invocation.context.invokedFunctionARN == "")
        #expect(invocation.context.traceID == nil)
        #expect(invocation.context.clientContext == nil)
        #expect(invocation.context.cognitoIdentity == nil)
        #expect(Array(invocation.event) == [0, 1, 2, 0xFF, 0xFE])
    }

    @Test(arguments: [
        (nil, "1542409706888", "Lambda-Runtime-Aws-Request-Id"),
        ("", "1542409706888", "Lambda-Runtime-Aws-Request-Id"),
        ("req-1", nil, "Lambda-Runtime-Deadline-Ms"),
    ] as [(String?, String?, String)])
    func nextWithoutARequiredHeaderFails(requestID: String?, deadline: String?, missing: String) throws {
        let server = try TestHTTPServer(script: [invocationResponse(requestID: requestID, deadline: deadline)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let error = runtimeError { () throws(RuntimeAPIError) in _ = try client.next() }

        // With the request id known, the invocation can still be answered: the error says which.
        #expect(error == (missing == "Lambda-Runtime-Aws-Request-Id"
            ? .missingHeader(missing) : .invalidInvocation(requestID: "req-1", problem: .missingHeader(missing))))
    }

    /// A deadline that is there but not a time is reported as what it is, not as missing.
    @Test(arguments: ["soon", "", "0", "-1", "1.5e12", "99999999999999999999999"])
    func nextWithAGarbageDeadlineSaysSo(deadline: String) throws {
        let server = try TestHTTPServer(script: [invocationResponse(requestID: "req-1", deadline: deadline)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let error = runtimeError { () throws(RuntimeAPIError) in _ = try client.next() }

        #expect(error == .invalidInvocation(requestID: "req-1", problem: .invalidHeader(name: "Lambda-Runtime-Deadline-Ms", value: deadline)))
        #expect(error?.description.contains("invalid Lambda-Runtime-Deadline-Ms") == true)
        #expect(error?.description.contains("req-1") == true)
    }

    @Test func nextWithAnUnexpectedStatusFails() throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 500, body: #"{"errorMessage":"internal","errorType":"ServiceException"}"#),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let error = runtimeError { () throws(RuntimeAPIError) in _ = try client.next() }

        #expect(error == .unexpectedStatus(
            endpoint: "/next", status: 500, body: #"{"errorMessage":"internal","errorType":"ServiceException"}"#))
    }

    @Test func respondPostsTheBody() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202, body: #"{"status":"OK"}"#)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)
        let body = Array(#"[{"summary_text": "Résumé \"quoted\" 📈"}]"#.utf8) + [0, 0xFF]

        try client.respond(requestID: "req-42", body: body)

        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/2018-06-01/runtime/invocation/req-42/response")
        #expect(requests[0].body == body)
        #expect(requests[0].values("Content-Type") == ["application/json"])
        #expect(requests[0].header("Lambda-Runtime-Function-Error-Type") == nil)
        #expect(requests[0].header("Expect") == nil)
    }

    @Test func largeResponseIsPostedWhole() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)
        let body = (0..<(5 * 1024 * 1024)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 11) }

        try client.respond(requestID: "big", body: body)

        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].body.count == body.count)
        #expect(requests[0].body == body)
    }

    @Test func reportErrorPostsTheErrorDocument() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        try client.reportError(
            requestID: "req-7", FunctionError(type: "InvalidPayload", message: #"field "inputs" is missing"#))

        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/2018-06-01/runtime/invocation/req-7/error")
        #expect(requests[0].values("Lambda-Runtime-Function-Error-Type") == ["Function.InvalidPayload"])
        #expect(requests[0].values("Content-Type") == ["application/json"])
        let document = try jsonObject(requests[0].body)
        #expect(Set(document.keys) == ["errorMessage", "errorType", "stackTrace", "error", "error_type"])
        #expect(document["errorMessage"] as? String == #"field "inputs" is missing"#)
        #expect(document["error"] as? String == #"field "inputs" is missing"#)
        #expect(document["errorType"] as? String == "InvalidPayload")
        #expect((document["stackTrace"] as? [Any])?.isEmpty == true)
    }

    @Test func reportInitErrorPostsToTheInitEndpoint() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        try client.reportInitError(FunctionError(.runtime, type: "ConfigurationError", message: "ENDPOINT_NAME is not set"))

        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/2018-06-01/runtime/init/error")
        #expect(requests[0].values("Lambda-Runtime-Function-Error-Type") == ["Runtime.ConfigurationError"])
        let document = try jsonObject(requests[0].body)
        #expect(document["errorMessage"] as? String == "ENDPOINT_NAME is not set")
        #expect(document["errorType"] as? String == "ConfigurationError")
    }

    @Test func responseRejectedWith413SurfacesAsUnexpectedStatus() throws {
        let rejection = #"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 413, body: rejection)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let error = runtimeError { () throws(RuntimeAPIError) in
            try client.respond(requestID: "req-9", body: [UInt8](repeating: UInt8(ascii: "a"), count: 100_000))
        }

        #expect(error == .unexpectedStatus(endpoint: "/runtime/invocation/req-9/response", status: 413, body: rejection))
    }

    @Test func unexpectedStatusBodyIsCutTo300Bytes() throws {
        let long = String(repeating: "0123456789", count: 100)
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 400, body: long)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        let error = runtimeError { () throws(RuntimeAPIError) in
            try client.reportError(requestID: "r", FunctionError(type: "X", message: "y"))
        }

        #expect(error == .unexpectedStatus(endpoint: "/runtime/invocation/r/error", status: 400, body: String(long.prefix(300))))
    }

    @Test func oneConnectionServesTheWholeLoop() throws {
        let server = try TestHTTPServer(script: [
            invocationResponse(requestID: "a"),
            ScriptedResponse(status: 202),
            invocationResponse(requestID: "b"),
            ScriptedResponse(status: 202),
            invocationResponse(requestID: "c"),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        #expect(try client.next().context.requestID == "a")
        try client.respond(requestID: "a", body: Array("ok".utf8))
        #expect(try client.next().context.requestID == "b")
        try client.reportError(requestID: "b", FunctionError(type: "Boom", message: "boom"))
        #expect(try client.next().context.requestID == "c")

        #expect(server.requests.map(\.path) == [
            nextPath, "/2018-06-01/runtime/invocation/a/response",
            nextPath, "/2018-06-01/runtime/invocation/b/error",
            nextPath,
        ])
        #expect(server.acceptedConnections == 1)
    }

    @Test func connectionDroppedWhileFrozenIsReopenedWithoutFailingTheInvocation() throws {
        // Lambda may freeze the process for minutes between invocations; the Runtime API can drop
        // the idle connection meanwhile, and the next call must not fail for it.
        let server = try TestHTTPServer(script: [
            invocationResponse(requestID: "a"),
            ScriptedResponse(status: 202, closeAfter: true),
            invocationResponse(requestID: "b"),
            .closeWithoutAnswering(),
            ScriptedResponse(status: 202),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        #expect(try client.next().context.requestID == "a")
        try client.respond(requestID: "a", body: Array("1".utf8))
        #expect(server.waitUntil { server.closedConnections == 1 })
        #expect(try client.next().context.requestID == "b")
        try client.respond(requestID: "b", body: Array("2".utf8))

        #expect(server.requests.map { "\($0.connection) \($0.path)" } == [
            "1 \(nextPath)", "1 /2018-06-01/runtime/invocation/a/response",
            "2 \(nextPath)", "2 /2018-06-01/runtime/invocation/b/response",
            "3 /2018-06-01/runtime/invocation/b/response",
        ])
    }

    @Test func aWedgedRuntimeAPIFailsAPostInsteadOfHangingIt() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202, delay: 3)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority, postTimeoutMilliseconds: 300)

        let start = ContinuousClock.now
        let error = runtimeError { () throws(RuntimeAPIError) in try client.respond(requestID: "slow", body: []) }

        guard case .transport(.timedOut) = error else {
            Issue.record("expected .transport(.timedOut), got \(String(describing: error))")
            return
        }
        #expect(ContinuousClock.now - start < .seconds(2))
    }

    @Test(arguments: [("8476a536-e9f4-11e8-9739-2dfe598c3fcd", "8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
                      ("a/b?c#d", "a%2Fb%3Fc%23d"), ("..", "%2E%2E"), (".", "%2E"), ("a..b", "a..b"), ("", ""), ("é", "%C3%A9")])
    func requestIDsStayInTheirPathSegment(id: String, segment: String) {
        #expect(RuntimeClient.pathSegment(id) == segment)
    }

    @Test func nextWaitsForAnEventWithoutATimeout() throws {
        // The long poll has no total timeout: an event that takes a while still arrives.
        let server = try TestHTTPServer(script: [
            ScriptedResponse(
                status: 200,
                headers: [("Lambda-Runtime-Aws-Request-Id", "late"), ("Lambda-Runtime-Deadline-Ms", "1")],
                body: "{}", delay: 1.2),
        ])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        #expect(try client.next().context.requestID == "late")
    }

    @Test func unreachableRuntimeAPIIsATransportError() throws {
        let refusing = try RefusingPort()
        let client = try RuntimeClient(endpoint: "127.0.0.1:\(refusing.port)")

        let error = runtimeError { () throws(RuntimeAPIError) in _ = try client.next() }

        guard case .transport(.couldNotConnect) = error else {
            Issue.record("expected .transport(.couldNotConnect), got \(String(describing: error))")
            return
        }
    }

    @Test func runtimeAPIGoneMidSessionIsATransportError() throws {
        let server = try TestHTTPServer(script: [invocationResponse(requestID: "a")])
        let client = try RuntimeClient(endpoint: server.authority)
        #expect(try client.next().context.requestID == "a")

        server.stop()
        // Hold the port, so nothing else can answer on it.
        let holder = try? RefusingPort(port: server.port)

        let error = runtimeError { () throws(RuntimeAPIError) in
            try client.respond(requestID: "a", body: Array("late".utf8))
        }

        guard case .transport(let underlying) = error else {
            Issue.record("expected .transport, got \(String(describing: error))")
            return
        }
        #expect(underlying.isConnectionFailure, "\(underlying)")
        withExtendedLifetime(holder) {}
    }

    @Test func unexpectedResponseIsNotRetried() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 500, body: "no"), ScriptedResponse(status: 202)])
        defer { server.stop() }
        let client = try RuntimeClient(endpoint: server.authority)

        _ = runtimeError { () throws(RuntimeAPIError) in try client.respond(requestID: "x", body: []) }

        #expect(server.requests.count == 1)
    }
}
