import Foundation
import JSON
import LambdaEvents
import Testing
@testable import Summarizer

/// How an HTTP request becomes a payload, or the failure it is answered with.
@Suite struct HTTPFrontTests {
    let front = HTTPFront(cors: CORSPolicy())

    func event(_ method: String = "POST", contentType: String? = "application/json", body: String?, base64: Bool = false) -> HTTPEvent {
        HTTPEvent(kind: .httpAPI, method: method, headers: contentType.map { ["content-type": $0] } ?? [:],
                  body: base64 ? body.map { Data($0.utf8).base64EncodedString() } : body, isBase64Encoded: base64)
    }

    func failure(_ event: HTTPEvent) -> Failure? {
        do {
            _ = try front.payload(of: event)
            return nil
        } catch {
            return error
        }
    }

    @Test func jsonTextAndBase64BodiesArePayloads() throws {
        #expect(try front.payload(of: event(body: #"{"inputs": "An article."}"#)).inputs == .single("An article."))
        #expect(try front.payload(of: event(contentType: "text/plain; charset=utf-8", body: "An article.")).inputs == .single("An article."))
        #expect(try front.payload(of: event(body: #"{"inputs": ["a", "b"]}"#, base64: true)).inputs == .batch(["a", "b"]))
        #expect(try front.payload(of: event(contentType: "application/vnd.api+json", body: #"{"inputs": "x"}"#)).inputs == .single("x"))
        #expect(try front.payload(of: event(contentType: nil, body: #" {"inputs": "x"}"#)).inputs == .single("x"), "no type: looks like JSON")
        #expect(try front.payload(of: event(contentType: nil, body: "Plain words.")).inputs == .single("Plain words."))
    }

    /// `curl -d` labels everything a form: a JSON object is JSON, anything else is the article.
    @Test func aFormLabelledJSONObjectIsJSON() throws {
        let form = "application/x-www-form-urlencoded"
        let json = try front.payload(of: event(contentType: form, body: #"{"inputs": "An article.", "parameters": {"max_length": 60}}"#))
        #expect(json.inputs == .single("An article."))
        #expect(json.parameters?.values["max_length"] == .int(60))
        #expect(try front.payload(of: event(contentType: form, body: "Shares rose {sharply}.")).inputs == .single("Shares rose {sharply}."))
        #expect(try front.payload(of: event(contentType: form, body: "{not json at all")).inputs == .single("{not json at all"))
        #expect(failure(event(contentType: form, body: #"{"inputs": 42}"#)) == .invalidPayload(PayloadError(field: "inputs", "must be a string or a list of strings, got a number")))
    }

    @Test func whatIsRefusedAndHow() {
        #expect(failure(event("GET", body: nil)) == .methodNotAllowed(method: "GET"))
        #expect(failure(event(contentType: "text/html", body: "<p>x</p>")) == .unsupportedMediaType("text/html"))
        #expect(failure(event(contentType: "text/plain; charset=latin1", body: "x")) == .unsupportedCharset("latin1"))
        #expect(failure(HTTPEvent(kind: .restAPI, method: "POST", headers: ["content-type": "application/json"], body: "%%%", isBase64Encoded: true)) == .invalidBase64)
        #expect(failure(event(contentType: "text/plain", body: "  \n ")) == .invalidText("the body is empty: send the article text to summarise"))
        #expect(failure(event(body: "{")).map(\.type) == "InvalidJSON")
        #expect(failure(event(body: #"{"input": "x"}"#)).map(\.type) == "InvalidRequest")
        let large = String(repeating: "x", count: Failure.maximumRequestBytes + 1)
        #expect(failure(event(contentType: "text/plain", body: large)) == .payloadTooLarge(bytes: Failure.maximumRequestBytes + 1))
    }

    @Test func failuresAreJSONWithTheRequestID() throws {
        let response = front.failure(.methodNotAllowed(method: "PUT"), requestID: "req-9", for: event("PUT", body: nil))
        #expect(response.status == 405)
        #expect(response.headers.map(\.name) == ["Content-Type", "Allow"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        #expect(document["requestId"] as? String == "req-9")
        #expect((document["error"] as? [String: Any])?["type"] as? String == "MethodNotAllowed")
    }
}

/// Which browser origins are granted what (`CORS_ALLOWED_ORIGINS`).
@Suite struct CORSPolicyTests {
    @Test func offByDefault() {
        let policy = CORSPolicy(configuration: nil)
        #expect(policy.responseHeaders(origin: "https://a.example").isEmpty)
        #expect(policy.preflightHeaders(origin: "https://a.example", requestedHeaders: "content-type").isEmpty)
    }

    @Test func listedOriginsOnly() {
        let policy = CORSPolicy(configuration: " https://a.example ,https://b.example,")
        #expect(policy.allowedOrigins == ["https://a.example", "https://b.example"])
        #expect(policy.responseHeaders(origin: "https://b.example").map(\.value) == ["https://b.example", "Origin"])
        #expect(policy.responseHeaders(origin: "https://evil.example").map(\.name) == ["Vary"], "no grant, but caches keep answers apart")
        #expect(policy.preflightHeaders(origin: "https://evil.example", requestedHeaders: nil).map(\.name) == ["Vary"])
        let preflight = Dictionary(uniqueKeysWithValues: policy.preflightHeaders(origin: "https://a.example", requestedHeaders: nil).map { ($0.name, $0.value) })
        #expect(preflight["Access-Control-Allow-Origin"] == "https://a.example")
        #expect(preflight["Access-Control-Allow-Methods"] == "OPTIONS, POST")
        #expect(preflight["Access-Control-Allow-Headers"]?.contains("x-api-key") == true)
        #expect(preflight["Access-Control-Max-Age"] == "600")
    }

    @Test func wildcard() {
        let policy = CORSPolicy(configuration: "*")
        #expect(policy.responseHeaders(origin: "https://any.example").map { "\($0.name): \($0.value)" } == ["Access-Control-Allow-Origin: *"])
        #expect(policy.responseHeaders(origin: nil).map(\.value) == ["*"])
    }
}
