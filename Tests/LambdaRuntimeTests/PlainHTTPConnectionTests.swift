import Foundation
import Testing
import TestHTTPServer
import HTTP
@testable import LambdaRuntime

// What only the plain-socket client has to get right by itself (framing, limits, addresses).
// Behaviour shared with the libcurl client is tested for both in Tests/HTTPTests/HTTPClientsTests.swift.

private func head(_ text: String) throws(HTTPClientError) -> HTTPResponseHead {
    try HTTPResponseHead(parsing: ArraySlice(text.utf8))
}

private func headError(_ text: String) -> HTTPClientError? {
    do {
        _ = try head(text)
        return nil
    } catch {
        return error
    }
}

@Suite struct HTTPResponseHeadTests {
    @Test func statusHeadersAndFraming() throws {
        let parsed = try head("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nX-Padded: \t value \t\r\nContent-Length: 16")

        #expect(parsed.status == 202)
        #expect(parsed.headers == [
            HTTPHeader(name: "Content-Type", value: "application/json"),
            HTTPHeader(name: "X-Padded", value: "value"),
            HTTPHeader(name: "Content-Length", value: "16"),
        ])
        #expect(parsed.contentLength == 16)
        #expect(!parsed.isChunked)
        #expect(!parsed.closesConnection)
    }

    @Test func bareLineFeedsAndAStatusLineWithoutReason() throws {
        let parsed = try head("HTTP/1.1 204\nX-A: 1\n")
        #expect(parsed.status == 204)
        #expect(parsed.headers == [HTTPHeader(name: "X-A", value: "1")])
    }

    @Test(arguments: [
        ("HTTP/1.1 200 OK\r\nConnection: close", true),
        ("HTTP/1.1 200 OK\r\nconnection: Keep-Alive, CLOSE", true),
        ("HTTP/1.1 200 OK\r\nConnection: keep-alive", false),
        ("HTTP/1.0 200 OK", true),
        ("HTTP/1.0 200 OK\r\nConnection: keep-alive", false),
    ])
    func connectionReuse(text: String, closes: Bool) throws {
        #expect(try head(text).closesConnection == closes)
    }

    @Test func chunkedWinsOverContentLengthAndTheConnectionIsNotReused() throws {
        let parsed = try head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: gzip, Chunked")
        #expect(parsed.isChunked)
        #expect(parsed.contentLength == nil)
        #expect(parsed.closesConnection)
    }

    @Test(arguments: [
        "",
        "HTTP/1.1",
        "HTTP/1.1 20 OK",
        "HTTP/1.1 2000 OK",
        "HTTP/1.1 abc OK",
        "HTTP/2 200 OK",
        "HTTP/1.1 099 Low",
        "ICY 200 OK",
        "HTTP/1.1 200 OK\r\nNo colon here",
        "HTTP/1.1 200 OK\r\n: empty name",
        "HTTP/1.1 200 OK\r\nBad Name: space in the name",
        "HTTP/1.1 200 OK\r\n folded: continuation",
        "HTTP/1.1 200 OK\r\nContent-Length: -1",
        "HTTP/1.1 200 OK\r\nContent-Length: 1e3",
        "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip",
    ])
    func malformedHeadsAreRejected(text: String) {
        guard case .receiveFailed = headError(text) else {
            Issue.record("accepted \(text.debugDescription)")
            return
        }
    }

    @Test func repeatedEqualContentLengthsAreAccepted() throws {
        #expect(try head("HTTP/1.1 200 OK\r\nContent-Length: 7\r\ncontent-length: 7").contentLength == 7)
    }
}

@Suite struct PlainHTTPConnectionTests {
    @Test(arguments: [
        ("127.0.0.1:9001", "127.0.0.1", "9001"),
        ("localhost:1", "localhost", "1"),
        ("[::1]:9001", "::1", "9001"),
        ("a:b:65535", "a:b", "65535"),
    ])
    func authoritiesAreSplit(authority: String, host: String, port: String) {
        let split = PlainHTTPConnection.split(authority)
        #expect(split?.host == host)
        #expect(split?.port == port)
    }

    @Test(arguments: ["", "127.0.0.1", "127.0.0.1:", ":9001", "127.0.0.1:0", "127.0.0.1:65536", "host:+80", "[::1]9001", "[::1", "h:80 "])
    func invalidAuthoritiesAreRefused(authority: String) {
        #expect(throws: HTTPClientError.invalidURL(authority)) { try PlainHTTPConnection(authority: authority) }
    }

    @Test func hostNameIsResolved() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 200, body: "by name")])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: "localhost:\(server.port)")

        let response = try connection.send(method: .get, path: "/", timeoutMilliseconds: 5_000)

        #expect(response.body == Array("by name".utf8))
        #expect(server.requests.first?.header("Host") == "localhost:\(server.port)")
    }

    @Test func bodyDelimitedByCloseIsReadToTheEnd() throws {
        let server = try TestHTTPServer(script: [
            .raw("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", closeAfter: true),
            ScriptedResponse(status: 200, body: "next"),
        ])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: server.authority)

        #expect(try connection.send(method: .get, path: "/1", timeoutMilliseconds: 5_000).body == Array("until the end".utf8))
        #expect(try connection.send(method: .get, path: "/2", timeoutMilliseconds: 5_000).body == Array("next".utf8))
        #expect(server.acceptedConnections == 2)
    }

    @Test func bodyOverTheLimitIsRefusedWithoutAllocatingIt() throws {
        let server = try TestHTTPServer(script: [
            .raw("HTTP/1.1 200 OK\r\nContent-Length: \(PlainHTTPConnection.largestBody + 1)\r\n\r\nxx"),
            ScriptedResponse(status: 200, body: "fine"),
        ])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: server.authority)

        #expect(throws: HTTPClientError.receiveFailed(
            "response body of \(PlainHTTPConnection.largestBody + 1) bytes is over the \(PlainHTTPConnection.largestBody)-byte limit")) {
            try connection.send(method: .get, path: "/huge", timeoutMilliseconds: 5_000)
        }
        // The connection is not trusted after that: the next request goes on a new one.
        #expect(try connection.send(method: .get, path: "/after", timeoutMilliseconds: 5_000).body == Array("fine".utf8))
        #expect(server.acceptedConnections == 2)
    }

    @Test(arguments: [
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n123456789\r\n",
    ])
    func malformedChunksAreAReceiveFailure(raw: String) throws {
        let server = try TestHTTPServer(script: [.raw(raw, closeAfter: true)])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: server.authority)

        do {
            _ = try connection.send(method: .get, path: "/", timeoutMilliseconds: 5_000)
            Issue.record("accepted a malformed chunked body")
        } catch {
            guard case .receiveFailed = error else {
                Issue.record("expected .receiveFailed, got \(error)")
                return
            }
        }
    }

    @Test func chunkExtensionsAndTrailersAreSkipped() throws {
        let server = try TestHTTPServer(script: [
            .raw("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;name=value\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"),
        ])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: server.authority)

        #expect(try connection.send(method: .get, path: "/", timeoutMilliseconds: 5_000).body == Array("abc".utf8))
    }

    @Test func requestHeadIsExactlyWhatTheRuntimeAPIExpects() throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202), ScriptedResponse(status: 200)])
        defer { server.stop() }
        let connection = try PlainHTTPConnection(authority: server.authority)

        _ = try connection.send(
            method: .post, path: "/2018-06-01/runtime/invocation/id/response",
            headers: [HTTPHeader(name: "Content-Type", value: "application/json")], body: Array("{}".utf8), timeoutMilliseconds: 5_000)
        _ = try connection.send(method: .get, path: "/2018-06-01/runtime/invocation/next", timeoutMilliseconds: nil)

        let requests = server.requests
        try #require(requests.count == 2)
        #expect(requests[0].headers.map(\.name) == ["Host", "Content-Type", "Content-Length"])
        #expect(requests[0].header("Content-Length") == "2")
        #expect(requests[1].headers.map(\.name) == ["Host"], "a GET carries no body framing")
        #expect(server.protocolErrors.isEmpty)
    }
}
