import Foundation
import JSON
import Testing
@testable import LambdaEvents

@Suite struct LambdaEventTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

    func event(_ file: String) throws -> LambdaEvent {
        let data = try Data(contentsOf: Self.fixtures.appendingPathComponent(file))
        return LambdaEvent.classify(try JSONValue(parsing: Array(data)))
    }

    func event(json: String) throws -> LambdaEvent {
        LambdaEvent.classify(try JSONValue(parsing: Array(json.utf8)))
    }

    func http(_ file: String) throws -> HTTPEvent {
        guard case .http(let http) = try event(file) else {
            Issue.record("\(file) was not recognised as an HTTP event")
            throw CancellationError()
        }
        return http
    }

    @Test func restAPIProxyRequest() throws {
        let request = try http("example-apigw-request.json")
        #expect(request.kind == .restAPI)
        #expect(request.method == "POST")
        #expect(request.path == "/hello/world")
        #expect(request.headers["content-type"] == "application/json")
        #expect(request.headers["accept-encoding"] == "gzip, deflate")
        #expect(request.usesMultiValueHeaders)
        #expect(request.requestID == "deef4878-7910-11e6-8f14-25afc3e9ae33")
    }

    @Test func apiGatewayConsoleTestWithNullMaps() throws {
        let request = try http("own-apigw-console-test-null-maps.json")
        #expect(request.kind == .restAPI)
        #expect(request.headers.isEmpty)
        #expect(!request.usesMultiValueHeaders)
        #expect(request.mediaType == nil)
        #expect(try request.decodedBody() == Array(#"{"inputs": "Shares of Contoso rose 4%. Analysts cheered."}"#.utf8))
    }

    @Test(arguments: ["apigw_v2_proxy_request_minimal.json", "example-apigw-v2-request-no-authorizer.json", "lambda_function_url_request.json"])
    func httpAPIAndFunctionURLRequests(file: String) throws {
        let request = try http(file)
        #expect(request.kind == .httpAPI)
        #expect(!request.method.isEmpty)
        #expect(request.path.hasPrefix("/"))
    }

    @Test func functionURLDetails() throws {
        let request = try http("lambda_function_url_request.json")
        #expect(request.method == "GET")
        #expect(request.path == "/my/path")
        #expect(request.requestID == "MIZRNhJtIAMEMDw=")
    }

    @Test func albRequests() throws {
        let get = try http("example-alb-lambda-target-request-headers-only.json")
        #expect(get.kind == .applicationLoadBalancer)
        #expect(get.method == "GET")
        #expect(!get.usesMultiValueHeaders)
        #expect(get.headers["x-myheader"] == "123")

        let post = try http("own-alb-multi-value-post.json")
        #expect(post.kind == .applicationLoadBalancer)
        #expect(post.usesMultiValueHeaders)
        #expect(post.headers["x-forwarded-for"] == "72.12.164.125, 10.0.0.1")
        #expect(try post.decodedBody() == Array(#"{"inputs": "One sentence."}"#.utf8))
    }

    @Test(arguments: [
        #"{"inputs": "text"}"#,
        #"{"inputs": "x", "httpMethod": "POST"}"#,
        #"{"httpMethod": "POST", "requestContext": null}"#,
        #"{"httpMethod": "POST", "requestContext": {}}"#,
        #"{"version": "2.0", "requestContext": {"http": {}}}"#,
        #"{"version": "1.0", "requestContext": {"http": {"method": "POST"}}}"#,
        "[1]", "\"text\"", "null", "3",
    ])
    func everythingElseIsDirect(json: String) throws {
        guard case .direct = try event(json: json) else {
            Issue.record("\(json) misread as an HTTP event")
            return
        }
    }

    @Test func missingIsBase64EncodedMeansText() throws {
        guard case .http(let request) = try event(json: #"{"version": "2.0", "requestContext": {"http": {"method": "post"}}, "body": "aGk="}"#) else {
            Issue.record("not HTTP")
            return
        }
        #expect(request.method == "POST")
        #expect(!request.isBase64Encoded)
        #expect(try request.decodedBody() == Array("aGk=".utf8))
    }

    @Test func invalidBase64IsAnError() {
        let request = HTTPEvent(kind: .httpAPI, method: "POST", body: "not base64!!", isBase64Encoded: true)
        #expect(throws: HTTPEventError.invalidBase64) { try request.decodedBody() }
    }

    @Test func base64WithLineBreaksIsAccepted() throws {
        let request = HTTPEvent(kind: .restAPI, method: "POST", body: "aGVs\r\nbG8=", isBase64Encoded: true)
        #expect(try request.decodedBody() == Array("hello".utf8))
    }

    @Test(arguments: [
        ("application/json", "application/json"),
        ("Application/JSON; charset=UTF-8", "application/json"),
        ("text/plain;charset=utf-8", "text/plain"),
        ("  ", nil as String?),
    ])
    func mediaTypeIgnoresParametersAndCase(contentType: String, expected: String?) {
        let request = HTTPEvent(kind: .httpAPI, method: "POST", headers: ["content-type": contentType])
        #expect(request.mediaType == expected)
    }
}

/// One header under several spellings is read the same way in every process (dictionary order is
/// not), and the same way whichever map it came in.
@Suite struct HeaderSpellingTests {
    func headers(_ json: String) throws -> [String: String] {
        guard case .http(let request) = LambdaEvent.classify(try JSONValue(parsing: Array(json.utf8))) else {
            Issue.record("not an HTTP event")
            return [:]
        }
        return request.headers
    }

    @Test func spellingsAreJoinedInByteOrder() throws {
        let v2 = try headers(#"""
            {"version": "2.0", "requestContext": {"http": {"method": "POST"}},
             "headers": {"content-type": "text/plain", "Content-Type": "application/json", "CONTENT-TYPE": "a/b", "X-One": "1"}}
            """#)
        #expect(v2["content-type"] == "a/b, application/json, text/plain")
        #expect(v2["x-one"] == "1")

        let v1 = try headers(#"""
            {"httpMethod": "POST", "requestContext": {"httpMethod": "POST"},
             "multiValueHeaders": {"content-type": ["text/plain"], "Content-Type": ["application/json", "x/y"]},
             "headers": {"content-type": "text/plain", "Content-Type": "x/y", "Origin": "https://a.example"}}
            """#)
        #expect(v1["content-type"] == "application/json, x/y, text/plain", "multi-value headers win, all of them")
        #expect(v1["origin"] == "https://a.example", "a name only the single map has is still read")
    }

    /// Dictionary order changes with the map's contents, too: many spellings, one reading.
    @Test func theReadingDoesNotDependOnHowTheMapWasBuilt() throws {
        let spellings = ["content-type", "Content-Type", "CONTENT-type", "content-TYPE", "Content-type", "cONTENT-TYPE"]
        var readings = Set<String>()
        for rotation in 0..<spellings.count {
            let rotated = spellings[rotation...] + spellings[..<rotation]
            let map = rotated.map { #""\#($0)": "\#($0)""# }.joined(separator: ", ")
            let read = try headers(#"{"version": "2.0", "requestContext": {"http": {"method": "POST"}}, "headers": {\#(map)}}"#)
            readings.insert(read["content-type"] ?? "")
        }
        #expect(readings == ["CONTENT-type, Content-Type, Content-type, cONTENT-TYPE, content-TYPE, content-type"])
    }
}

@Suite struct HTTPEventResponseTests {
    let response = HTTPEventResponse(
        status: 429, headers: [.init("Content-Type", "application/json"), .init("Retry-After", "1")], body: #"{"a":"b/c"}"#)

    func document(for kind: HTTPEvent.Kind, multi: Bool = false) throws -> [String: Any] {
        let request = HTTPEvent(kind: kind, method: "POST", usesMultiValueHeaders: multi)
        return try JSONSerialization.jsonObject(with: Data(response.encoded(for: request))) as! [String: Any]
    }

    @Test func restAPIShape() throws {
        let document = try document(for: .restAPI)
        #expect(Set(document.keys) == ["statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded"])
        #expect(document["statusCode"] as? Int == 429)
        #expect((document["headers"] as? [String: String])?["Retry-After"] == "1")
        #expect((document["multiValueHeaders"] as? [String: [String]])?["Content-Type"] == ["application/json"])
        #expect(document["body"] as? String == #"{"a":"b/c"}"#)
        #expect(document["isBase64Encoded"] as? Bool == false)
    }

    @Test func httpAPIShape() throws {
        let document = try document(for: .httpAPI)
        #expect(Set(document.keys) == ["statusCode", "headers", "cookies", "body", "isBase64Encoded"])
        #expect((document["cookies"] as? [String]) == [])
    }

    @Test func albShapes() throws {
        let single = try document(for: .applicationLoadBalancer)
        #expect(Set(single.keys) == ["statusCode", "statusDescription", "headers", "body", "isBase64Encoded"])
        #expect(single["statusDescription"] as? String == "429 Too Many Requests")
        let multi = try document(for: .applicationLoadBalancer, multi: true)
        #expect(Set(multi.keys) == ["statusCode", "statusDescription", "multiValueHeaders", "body", "isBase64Encoded"])
    }

    @Test func bodyWithControlCharactersAndUnicodeRoundTrips() throws {
        let text = "quote \" backslash \\ nul \u{0} bell \u{7} café 📈 \u{2028}"
        let encoded = HTTPEventResponse(status: 200, body: text).encoded(for: HTTPEvent(kind: .httpAPI, method: "POST"))
        let document = try JSONSerialization.jsonObject(with: Data(encoded)) as! [String: Any]
        #expect(document["body"] as? String == text)
    }
}
