import Foundation
@testable import CurlHTTP
import HTTP
import LambdaRuntime
import Testing
import TestHTTPServer

#if canImport(Glibc)
import Glibc
#endif

/// Runs `request` and returns the error it threw, or `nil` on success.
private func sendError(_ client: TestClient, _ request: HTTPRequest) -> HTTPClientError? {
    do {
        _ = try client.send(request)
        return nil
    } catch {
        return error
    }
}

/// The package's two HTTP/1.1 clients: libcurl's (`CurlHTTPClient`, for SageMaker) and the
/// plain-socket one (`PlainHTTPConnection`, for the Runtime API). Most behaviour here must hold
/// for both, so most tests run once with each.
enum Transport: String, CaseIterable, CustomTestStringConvertible {
    case curl, plain
    var testDescription: String { rawValue }
}

/// Either client behind `send(HTTPRequest)`.
private final class TestClient {
    private let curl: CurlHTTPClient?
    private var plain: PlainHTTPConnection?

    init(_ transport: Transport) throws {
        // Loopback tests must not go through a proxy someone has set in the environment.
        curl = transport == .curl ? try CurlHTTPClient(configuration: .init(honorsProxyEnvironment: false)) : nil
    }

    func send(_ request: HTTPRequest) throws(HTTPClientError) -> HTTPResponse {
        if let curl { return try curl.send(request) }
        // A plain connection serves one authority: the first request's.
        let rest = request.url.dropFirst("http://".count)
        guard request.url.hasPrefix("http://"), let slash = rest.firstIndex(of: "/") else { throw .invalidURL(request.url) }
        let connection: PlainHTTPConnection
        if let plain {
            connection = plain
        } else {
            connection = try PlainHTTPConnection(authority: String(rest[..<slash]))
            plain = connection
        }
        return try connection.send(
            method: request.method, path: String(rest[slash...]), headers: request.headers, body: request.body,
            timeoutMilliseconds: request.totalTimeoutMilliseconds)
    }
}

private func makeClient(_ transport: Transport) throws -> TestClient {
    try TestClient(transport)
}

private func get(_ url: String, headers: [HTTPHeader] = [], timeout: Int? = 10_000) -> HTTPRequest {
    HTTPRequest(method: .get, url: url, headers: headers, totalTimeoutMilliseconds: timeout)
}

private func post(_ url: String, _ body: [UInt8], headers: [HTTPHeader] = [], timeout: Int? = 30_000) -> HTTPRequest {
    HTTPRequest(method: .post, url: url, headers: headers, body: body, totalTimeoutMilliseconds: timeout)
}

/// Deterministic pseudo-random bytes (every value 0...255 occurs, NULs and invalid UTF-8 included).
private func pseudoRandomBytes(_ count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> [UInt8] {
    var state = seed
    var bytes = [UInt8](repeating: 0, count: count)
    bytes.withUnsafeMutableBufferPointer { buffer in
        for index in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            buffer[index] = UInt8(truncatingIfNeeded: state >> 33)
        }
    }
    return bytes
}

private let echo: TestHTTPServer.Handler = { request in
    ScriptedResponse(status: 200, headers: [("Content-Type", "application/octet-stream")], body: request.body)
}

private func elapsedMilliseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = ContinuousClock.now - start
    return Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
}

@Suite struct RoundTripTests {
    @Test(arguments: Transport.allCases) func getRoundTrip(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, headers: [("Content-Type", "text/plain")], body: "hello, world"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(get("\(server.baseURL)/some/path?x=1&y=%20z"))

        #expect(response.status == 200)
        #expect(response.body == Array("hello, world".utf8))
        #expect(response.header("Content-Type") == "text/plain")
        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "GET")
        #expect(requests[0].path == "/some/path?x=1&y=%20z")
        #expect(requests[0].version == "HTTP/1.1")
        #expect(requests[0].header("Host") == server.authority)
        #expect(requests[0].body.isEmpty)
        #expect(server.protocolErrors.isEmpty)
    }

    @Test(arguments: Transport.allCases) func postRoundTripWithBinaryBytes(_ transport: Transport) throws {
        let server = try TestHTTPServer(handler: echo)
        defer { server.stop() }
        let client = try makeClient(transport)
        // Every byte value, NULs and CR LF CR LF (which must not end anything) included.
        let body: [UInt8] = Array(0...255) + Array("\r\n\r\n".utf8) + [0, 0, 0xFF, 0xFE] + Array(255...255)

        let response = try client.send(post("\(server.baseURL)/echo", body))

        #expect(response.status == 200)
        #expect(Array(response.body) == body)
        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "POST")
        #expect(requests[0].path == "/echo")
        #expect(requests[0].body == body)
        #expect(requests[0].header("Content-Length") == String(body.count))
        #expect(requests[0].header("Transfer-Encoding") == nil)
    }

    @Test(arguments: Transport.allCases) func fiveMegabytePostIsSentAndReceivedExactlyWithoutExpectContinue(_ transport: Transport) throws {
        let server = try TestHTTPServer(handler: echo)
        defer { server.stop() }
        let client = try makeClient(transport)
        let body = pseudoRandomBytes(5 * 1024 * 1024)

        let response = try client.send(post("\(server.baseURL)/large", body, headers: [
            HTTPHeader(name: "Content-Type", value: "application/octet-stream"),
        ]))

        #expect(response.status == 200)
        #expect(response.body.count == body.count)
        #expect(Array(response.body) == body)
        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].body.count == body.count)
        #expect(requests[0].body == body)
        #expect(requests[0].header("Content-Length") == String(body.count))
        #expect(requests[0].header("Expect") == nil, "libcurl's Expect: 100-continue costs a round trip")
        #expect(requests[0].values("Content-Type") == ["application/octet-stream"])
    }

    @Test(arguments: Transport.allCases) func emptyPost(_ transport: Transport) throws {
        let server = try TestHTTPServer(handler: echo)
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(post("\(server.baseURL)/empty", []))

        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        let requests = server.requests
        try #require(requests.count == 1)
        #expect(requests[0].method == "POST")
        #expect(requests[0].header("Content-Length") == "0")
        #expect(requests[0].body.isEmpty)
    }

    @Test(arguments: Transport.allCases) func headersAreSentAsGiven(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 204), ScriptedResponse(status: 204)])
        defer { server.stop() }
        let client = try makeClient(transport)
        let headers = [
            HTTPHeader(name: "Content-Type", value: "application/json"),
            HTTPHeader(name: "X-Amz-Date", value: "20150830T123600Z"),
            HTTPHeader(name: "Authorization", value: "AWS4-HMAC-SHA256 Credential=AKID/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=abc"),
            HTTPHeader(name: "x-lower-case", value: "value with  two spaces"),
            HTTPHeader(name: "X-Repeated", value: "one"),
            HTTPHeader(name: "X-Repeated", value: "two"),
        ]

        _ = try client.send(post("\(server.baseURL)/h", Array(#"{"a":1}"#.utf8), headers: headers))
        _ = try client.send(get("\(server.baseURL)/accept", headers: [HTTPHeader(name: "Accept", value: "application/json")]))

        let requests = server.requests
        try #require(requests.count == 2)
        let sent = requests[0]
        for header in headers where header.name != "X-Repeated" {
            #expect(sent.values(header.name) == [header.value], "\(header.name)")
            #expect(sent.headers.contains { $0.name == header.name }, "header name case kept: \(header.name)")
        }
        #expect(sent.values("X-Repeated") == ["one", "two"])
        #expect(sent.header("Expect") == nil)
        #expect(sent.header("Accept") == nil, "no Accept unless the caller gives one")
        #expect(requests[1].values("Accept") == ["application/json"])
    }

    // libcurl adds `Content-Type: application/x-www-form-urlencoded` to a POST unless told not
    // to; the client must suppress it (this failed before CurlHTTPClient.swift removed the default).
    @Test(arguments: Transport.allCases) func postWithoutContentTypeSendsNoContentType(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 204), ScriptedResponse(status: 204)])
        defer { server.stop() }
        let client = try makeClient(transport)

        _ = try client.send(post("\(server.baseURL)/raw", Array("a=b".utf8)))
        _ = try client.send(post("\(server.baseURL)/typed", Array("a=b".utf8), headers: [
            HTTPHeader(name: "content-type", value: "text/plain; charset=utf-8"),
        ]))

        let requests = server.requests
        try #require(requests.count == 2)
        #expect(requests[0].header("Content-Type") == nil)
        #expect(requests[1].values("Content-Type") == ["text/plain; charset=utf-8"], "a lower-case name still counts as given")
    }

    @Test(arguments: Transport.allCases) func responseHeadersAreParsedAndLookedUpCaseInsensitively(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            .raw(
                "HTTP/1.1 200 OK\r\n"
                    + "Content-Type: application/json\r\n"
                    + "X-Custom-Header:   padded value \t\r\n"
                    + "x-dup: first\r\n"
                    + "X-Dup: second\r\n"
                    + "X-Empty:\r\n"
                    + "X-Url: http://example.com:8080/a?b=c\r\n"
                    + "Content-Length: 2\r\n"
                    + "\r\n"
                    + "{}"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(get("\(server.baseURL)/"))

        #expect(response.status == 200)
        #expect(response.body == Array("{}".utf8))
        #expect(response.header("content-type") == "application/json")
        #expect(response.header("CONTENT-TYPE") == "application/json")
        #expect(response.header("x-custom-header") == "padded value")
        #expect(response.headers.contains(HTTPHeader(name: "X-Custom-Header", value: "padded value")), "names keep their case")
        #expect(response.header("X-DUP") == "first")
        #expect(response.headers.filter { $0.name.lowercased() == "x-dup" }.map(\.value) == ["first", "second"])
        #expect(response.header("X-Empty") == "")
        #expect(response.header("X-Url") == "http://example.com:8080/a?b=c")
        #expect(response.header("Missing") == nil)
        #expect(response.header("X-Custom-Heade") == nil)
        #expect(response.headers.count == 7, "no status line or blank line among the headers: \(response.headers)")
    }

    @Test(arguments: Transport.allCases) func onlyTheLastHeaderBlockCounts(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            .raw(
                "HTTP/1.1 100 Continue\r\nX-Phase: continue\r\n\r\n"
                    + "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\nX-Phase: early\r\n\r\n"
                    + "HTTP/1.1 201 Created\r\nX-Phase: final\r\nContent-Length: 4\r\n\r\ndone"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(post("\(server.baseURL)/", Array("x".utf8)))

        #expect(response.status == 201)
        #expect(response.body == Array("done".utf8))
        #expect(response.header("X-Phase") == "final")
        #expect(response.header("Link") == nil)
        #expect(response.headers.map(\.name) == ["X-Phase", "Content-Length"])
    }

    @Test(arguments: Transport.allCases) func chunkedResponseBodyIsDecoded(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            .raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n, world\r\n0\r\n\r\n"),
            ScriptedResponse(status: 200, body: "after"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(get("\(server.baseURL)/chunked"))
        #expect(response.body == Array("hello, world".utf8))
        // The chunked body was framed correctly, so the connection stays usable.
        #expect(try client.send(get("\(server.baseURL)/after")).body == Array("after".utf8))
        #expect(server.acceptedConnections == 1)
    }

    @Test(arguments: Transport.allCases, [301, 302, 400, 403, 404, 413, 500, 503])
    func nonSuccessStatusIsAResponseNotAnError(_ transport: Transport, status: Int) throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(
                status: status, headers: [("Location", "/elsewhere"), ("Content-Type", "application/json")],
                body: #"{"message":"status \#(status)"}"#),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let response = try client.send(get("\(server.baseURL)/status"))

        #expect(response.status == status)
        #expect(response.body == Array(#"{"message":"status \#(status)"}"#.utf8))
        #expect(response.header("Location") == "/elsewhere")
        #expect(server.requests.count == 1, "redirects are not followed")
    }
}

@Suite struct ConnectionTests {
    @Test(arguments: Transport.allCases) func fiftyRequestsShareOneConnection(_ transport: Transport) throws {
        let server = try TestHTTPServer(handler: { request in
            ScriptedResponse(status: 200, body: "\(request.method) \(request.path) \(request.body.count)")
        })
        defer { server.stop() }
        let client = try makeClient(transport)

        for index in 0..<50 {
            let body = Array(repeating: UInt8(index), count: index * 100)
            let response = index.isMultiple(of: 2)
                ? try client.send(get("\(server.baseURL)/get/\(index)"))
                : try client.send(post("\(server.baseURL)/post/\(index)", body))
            let expected = index.isMultiple(of: 2) ? "GET /get/\(index) 0" : "POST /post/\(index) \(body.count)"
            #expect(response.body == Array(expected.utf8))
        }

        #expect(server.requests.count == 50)
        #expect(server.acceptedConnections == 1)
        #expect(server.requests.allSatisfy { $0.connection == 1 })
    }

    @Test(arguments: Transport.allCases) func idleConnectionClosedByServerIsReplacedTransparently(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, body: "first", closeAfter: true),
            ScriptedResponse(status: 200, body: "second"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        #expect(try client.send(get("\(server.baseURL)/1")).body == Array("first".utf8))
        // The response did not say `Connection: close`: the client still holds the connection
        // when the server drops it (as Lambda's thaw after a long freeze does).
        #expect(server.waitUntil { server.closedConnections == 1 })

        let second = try client.send(get("\(server.baseURL)/2"))

        #expect(second.status == 200)
        #expect(second.body == Array("second".utf8))
        #expect(server.acceptedConnections == 2)
        #expect(server.requests.map(\.connection) == [1, 2])
        #expect(server.requests.map(\.path) == ["/1", "/2"])
    }

    @Test(arguments: Transport.allCases) func reusedConnectionDroppedWithoutAnAnswerIsRetriedOnANewOne(_ transport: Transport) throws {
        // The race the previous test avoids: the server drops the kept-alive connection just as
        // the next request goes out. Both clients re-send the request once on a fresh connection, so
        // the caller sees a normal answer, and the server sees the request twice (delivery is
        // at-least-once for a request that died with its connection unanswered).
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, body: "first"),
            .closeWithoutAnswering(),
            ScriptedResponse(status: 200, body: "retried"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        #expect(try client.send(get("\(server.baseURL)/1")).body == Array("first".utf8))
        let second = try client.send(post("\(server.baseURL)/2", Array("payload".utf8)))

        #expect(second.body == Array("retried".utf8))
        #expect(server.requests.map { "\($0.path) \($0.connection) \($0.bodyText)" } == ["/1 1 ", "/2 1 payload", "/2 2 payload"])
    }

    @Test(arguments: Transport.allCases) func connectionCloseHeaderIsHonoured(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, headers: [("Connection", "close")], body: "bye", closeAfter: true),
            ScriptedResponse(status: 200, body: "hello again"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        #expect(try client.send(get("\(server.baseURL)/1")).body == Array("bye".utf8))
        #expect(try client.send(post("\(server.baseURL)/2", Array("x".utf8))).body == Array("hello again".utf8))
        #expect(server.acceptedConnections == 2)
    }

    @Test(arguments: Transport.allCases) func totalTimeoutIsEnforced(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 200, body: "too late", delay: 2)])
        defer { server.stop() }
        let client = try makeClient(transport)

        let start = ContinuousClock.now
        let error = sendError(client, get("\(server.baseURL)/slow", timeout: 300))
        let elapsed = elapsedMilliseconds(since: start)

        guard case .timedOut = error else {
            Issue.record("expected .timedOut, got \(String(describing: error))")
            return
        }
        #expect(elapsed >= 250, "gave up after \(elapsed) ms, before the 300 ms timeout")
        #expect(elapsed < 1_500, "took \(elapsed) ms for a 300 ms timeout")
        #expect(error?.isConnectionFailure == false)
    }

    @Test(arguments: Transport.allCases) func clientIsUsableAfterATimeout(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, body: "too late", delay: 2),
            ScriptedResponse(status: 200, body: "on time"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        guard case .timedOut = sendError(client, get("\(server.baseURL)/slow", timeout: 200)) else {
            Issue.record("expected a timeout")
            return
        }
        let response = try client.send(get("\(server.baseURL)/fast"))

        #expect(response.body == Array("on time".utf8))
        // The timed-out connection still had a response in flight: it must not be reused.
        #expect(server.acceptedConnections == 2)
    }

    @Test(arguments: Transport.allCases, [1_000 as Int?, nil])
    func slowAnswerWithinTheTimeoutSucceeds(_ transport: Transport, timeout: Int?) throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 200, body: "worth the wait", delay: 0.4)])
        defer { server.stop() }
        let client = try makeClient(transport)

        let start = ContinuousClock.now
        let response = try client.send(get("\(server.baseURL)/slow", timeout: timeout))

        #expect(response.body == Array("worth the wait".utf8))
        #expect(elapsedMilliseconds(since: start) >= 350)
    }

    @Test(arguments: Transport.allCases) func connectionRefused(_ transport: Transport) throws {
        let refusing = try RefusingPort()
        let client = try makeClient(transport)

        let start = ContinuousClock.now
        let error = sendError(client, get("http://127.0.0.1:\(refusing.port)/", timeout: 5_000))

        guard case .couldNotConnect = error else {
            Issue.record("expected .couldNotConnect, got \(String(describing: error))")
            return
        }
        #expect(error?.isConnectionFailure == true)
        #expect(elapsedMilliseconds(since: start) < 3_000)
    }

    @Test(arguments: ["http://exa mple.com/", "notaprotocol://host/path", "", "http://127.0.0.1:99999/"])
    func invalidURL(url: String) throws {
        let client = try makeClient(.curl)

        let error = sendError(client, get(url, timeout: 2_000))

        #expect(error == .invalidURL(url))
        #expect(error?.isConnectionFailure == false)
    }

    @Test(arguments: Transport.allCases) func serverClosingWithoutAnsweringIsAReceiveFailure(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [.closeWithoutAnswering()])
        defer { server.stop() }
        let client = try makeClient(transport)

        let error = sendError(client, post("\(server.baseURL)/nothing", Array("payload".utf8)))

        guard case .receiveFailed = error else {
            Issue.record("expected .receiveFailed, got \(String(describing: error))")
            return
        }
        #expect(error?.isConnectionFailure == true)
        #expect(server.requests.count == 1, "the request reached the server exactly once")
    }

    @Test(arguments: Transport.allCases) func truncatedBodyIsAReceiveFailure(_ transport: Transport) throws {
        let server = try TestHTTPServer(script: [
            .raw("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b", closeAfter: true),
            ScriptedResponse(status: 200, body: "complete"),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let error = sendError(client, get("\(server.baseURL)/truncated"))

        guard case .receiveFailed = error else {
            Issue.record("expected .receiveFailed, got \(String(describing: error))")
            return
        }
        // And the client recovers on a new connection.
        #expect(try client.send(get("\(server.baseURL)/whole")).body == Array("complete".utf8))
        #expect(server.acceptedConnections == 2)
    }

    @Test(arguments: Transport.allCases) func responsesDoNotLeakIntoEachOther(_ transport: Transport) throws {
        let large = pseudoRandomBytes(300_000, seed: 7)
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, headers: [("X-First", "1")], body: large),
            ScriptedResponse(status: 404, headers: [("X-Second", "2")], body: "small"),
            ScriptedResponse(status: 204),
        ])
        defer { server.stop() }
        let client = try makeClient(transport)

        let first = try client.send(get("\(server.baseURL)/1"))
        let second = try client.send(get("\(server.baseURL)/2"))
        let third = try client.send(get("\(server.baseURL)/3"))

        #expect(Array(first.body) == large)
        #expect(second.status == 404)
        #expect(second.body == Array("small".utf8))
        #expect(second.header("X-First") == nil)
        #expect(second.header("X-Second") == "2")
        #expect(third.status == 204)
        #expect(third.body.isEmpty)
        #expect(third.header("X-Second") == nil)
        // The first body must survive the client's buffer reuse.
        #expect(Array(first.body) == large)
    }
}

@Suite struct ErrorAndWhitespaceTests {
    @Test(arguments: [
        ("", ""),
        ("a", "a"),
        ("  value  ", "value"),
        ("\t\r\n value with  inner  spaces \r\n", "value with  inner  spaces"),
        ("   ", ""),
        ("\r\n", ""),
        ("\r", ""),
        ("\n\n", ""),
        (" \t", ""),
        ("x\u{0B}", "x\u{0B}"),  // vertical tab is not HTTP whitespace
        ("\u{A0}x\u{A0}", "\u{A0}x\u{A0}"),  // nor is a no-break space
        ("é ", "é"),
        (" e\u{301}", "e\u{301}"),
    ])
    func trimmingHTTPWhitespace(input: String, expected: String) {
        let trimmed = input.trimmingHTTPWhitespace()
        #expect(Array(trimmed.unicodeScalars) == Array(expected.unicodeScalars))
    }

    @Test func trimmingASubstring() {
        let line = "Content-Type:  text/plain \r\n"
        let colon = line.firstIndex(of: ":")!
        #expect(line[line.index(after: colon)...].trimmingHTTPWhitespace() == "text/plain")
    }

    @Test func connectionFailureClassification() {
        #expect(HTTPClientError.couldNotConnect("x").isConnectionFailure)
        #expect(HTTPClientError.sendFailed("x").isConnectionFailure)
        #expect(HTTPClientError.receiveFailed("x").isConnectionFailure)
        #expect(!HTTPClientError.timedOut("x").isConnectionFailure)
        #expect(!HTTPClientError.invalidURL("x").isConnectionFailure)
        #expect(!HTTPClientError.tlsFailure("x").isConnectionFailure)
        #expect(!HTTPClientError.other(code: 1, detail: "x").isConnectionFailure)
        #expect(HTTPClientError.timedOut("after 300 ms").description.contains("after 300 ms"))
        #expect(HTTPClientError.invalidURL("bad://").description.contains("bad://"))
    }
}

/// What a hostile or broken peer can do to a request or an answer, and what it must not achieve.
@Suite struct HostilePeerTests {
    /// A CR or LF in a header would end the field and start another (header injection); a NUL
    /// would cut it short in C. Neither client sends such a request at all.
    @Test(arguments: Transport.allCases, [
        HTTPHeader(name: "X-Amzn-SageMaker-Inference-Id", value: "abc\r\nX-Injected: yes"),
        HTTPHeader(name: "X-Id", value: "abc\nX-Injected: yes"),
        HTTPHeader(name: "X-Id", value: "abc\rdef"),
        HTTPHeader(name: "X-Id", value: "abc\u{0}def"),
        HTTPHeader(name: "X-Id\r\nX-Injected", value: "yes"),
        HTTPHeader(name: "", value: "no name"),
    ])
    func headersThatCouldBreakTheRequestAreRefusedBeforeAnythingIsSent(_ transport: Transport, header: HTTPHeader) throws {
        let server = try TestHTTPServer(handler: echo)
        defer { server.stop() }
        let client = try makeClient(transport)

        let error = sendError(client, post("\(server.baseURL)/x", Array("body".utf8), headers: [header]))

        #expect(error == .invalidHeader(name: header.name))
        #expect(error?.description.contains("\r") == false && error?.description.contains("\n") == false)
        #expect(server.requests.isEmpty)
        #expect(server.acceptedConnections == 0, "nothing was sent")
    }

    @Test func anAnnouncedBodyOverTheLimitIsNotRead() throws {
        let body = String(repeating: "x", count: 100_000)
        let server = try TestHTTPServer(script: [
            ScriptedResponse(status: 200, body: body),
            ScriptedResponse(status: 200, body: "small"),
        ])
        defer { server.stop() }
        let client = try makeClient(.curl)
        var request = get("\(server.baseURL)/big")
        request.maximumResponseBytes = 1_000

        #expect(sendError(client, request) == .responseTooLarge(limit: 1_000))
        #expect(sendError(client, request)?.description == nil, "the client is usable afterwards")
    }

    /// Without a length up front (chunked, or the answer never ends), the read stops at the limit.
    @Test(arguments: [999, 1_000, 1_001, 250_000])
    func aChunkedBodyIsCutOffAtTheLimit(size: Int) throws {
        let chunk = String(repeating: "y", count: 100)
        var raw = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        var left = size
        while left > 0 {
            let part = min(left, chunk.count)
            raw += String(part, radix: 16) + "\r\n" + chunk.prefix(part) + "\r\n"
            left -= part
        }
        raw += "0\r\n\r\n"
        let server = try TestHTTPServer(script: [.raw(raw)])
        defer { server.stop() }
        let client = try makeClient(.curl)
        var request = get("\(server.baseURL)/chunked")
        request.maximumResponseBytes = 1_000

        let error = sendError(client, request)

        if size <= 1_000 {
            #expect(error == nil)
        } else {
            #expect(error == .responseTooLarge(limit: 1_000))
        }
    }

    /// A peer that accepts the connection and then says nothing: the TLS handshake never ends.
    /// That is a failure to connect (the request never left, so trying again is safe), whichever
    /// of the connect timeout or the whole request's timeout runs out first.
    @Test(arguments: [(connect: 300, total: 10_000), (connect: 10_000, total: 300)])
    func aStalledTLSHandshakeIsAConnectTimeout(timeouts: (connect: Int, total: Int)) throws {
        let silent = try SilentPort()
        let client = try makeClient(.curl)
        let request = HTTPRequest(
            method: .post, url: "https://127.0.0.1:\(silent.port)/endpoints/x/invocations", body: Array("{}".utf8),
            connectTimeoutMilliseconds: timeouts.connect, totalTimeoutMilliseconds: timeouts.total)

        let start = ContinuousClock.now
        let error = sendError(client, request)
        let elapsed = elapsedMilliseconds(since: start)

        guard case .connectTimedOut = error else {
            Issue.record("expected .connectTimedOut, got \(String(describing: error))")
            return
        }
        #expect(error?.isConnectionFailure == true)
        #expect(elapsed >= 250 && elapsed < 2_000, "\(elapsed) ms for a 300 ms timeout")
    }
}
