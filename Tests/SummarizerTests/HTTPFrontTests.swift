import Foundation
import JSON
import LambdaEvents
import Testing
@testable import Summarizer

/// How an HTTP request becomes a payload, or the failure it is answered with.
@Suite struct HTTPFrontTests {
    let front = HTTPFront(cors: CORSPolicy())

    func event(
        _ method: String = "POST", kind: HTTPEvent.Kind = .httpAPI, contentType: String? = "application/json", body: String?, base64: Bool = false
    ) -> HTTPEvent {
        HTTPEvent(kind: kind, method: method, headers: contentType.map { ["content-type": $0] } ?? [:],
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
    }

    /// Without a `Content-Type`, a JSON object is the payload and anything else the article,
    /// through every front alike.
    @Test(arguments: [HTTPEvent.Kind.restAPI, .httpAPI, .applicationLoadBalancer])
    func anUnlabelledBodyIsJSONWhenItIsAJSONObject(kind: HTTPEvent.Kind) throws {
        func payload(_ body: String, base64: Bool = false) throws -> SummarizeRequest {
            try front.payload(of: event(kind: kind, contentType: nil, body: body, base64: base64))
        }
        #expect(try payload(#" {"inputs": "x", "parameters": {"max_length": 60}}"#).parameters?.values["max_length"] == .int(60))
        #expect(try payload(#"{"inputs": "x"}"#, base64: true).inputs == .single("x"))
        #expect(try payload("Plain words.").inputs == .single("Plain words."))
        #expect(try payload("[1, 2] is a list").inputs == .single("[1, 2] is a list"))
        #expect(try payload("{not json").inputs == .single("{not json"))
        #expect(failure(event(kind: kind, contentType: nil, body: #"{"inputs": 42}"#)).map(\.type) == "InvalidRequest")
        #expect(failure(event(kind: kind, contentType: nil, body: "  ")).map(\.type) == "InvalidRequest")
    }

    /// An HTML form: `inputs` is the article, several make a list.
    @Test func formsAreDecoded() throws {
        let form = "application/x-www-form-urlencoded"
        #expect(try front.payload(of: event(contentType: form, body: "inputs=Shares+rose+5%25%2C+%22a+lot%22.%0AThen+fell.")).inputs
            == .single("Shares rose 5%, \"a lot\".\nThen fell."))
        #expect(try front.payload(of: event(contentType: form, body: "inputs=One.&inputs=Two%C3%A9.")).inputs == .batch(["One.", "Twoé."]))
        #expect(try front.payload(of: event(contentType: form, body: "inputs=A+file.\r\n")).inputs == .single("A file."), "curl --data-binary @file")
        #expect(try front.payload(of: event(contentType: form + "; charset=UTF-8", body: "inputs=x", base64: true)).inputs == .single("x"))
        #expect(failure(event(contentType: form, body: "inputs=x&submit=Go")) == .invalidPayload(PayloadError(field: "submit", "is not a known form field; a form sends the article as \"inputs\"")))
        #expect(failure(event(contentType: form, body: "text=x")).map(\.type) == "InvalidRequest")
        #expect(failure(event(contentType: form, body: "inputs=")) == .invalidPayload(PayloadError(field: "inputs", "is empty: send the article text to summarise")))
        #expect(failure(event(contentType: form, body: "inputs=%FF")) == .invalidText("the form is not valid UTF-8 once percent-decoded"))
        #expect(try front.payload(of: event(contentType: form, body: "inputs=Up+100%+or+%2")).inputs == .single("Up 100% or %2"), "a stray % is kept")
        #expect(failure(event(contentType: form, body: "=null")) == .invalidText("the form has a field without a name: send the article as inputs=..."))
        #expect(failure(event(contentType: form, body: "inputs&inputs=x")) == .invalidPayload(PayloadError(field: "inputs[0]", "is empty")))
        #expect(try front.payload(of: event(contentType: form, body: "NoSpacesNoEquals.")).inputs == .single("NoSpacesNoEquals."))
        let many = Array(repeating: "inputs=a", count: RequestLimits.default.batchArticles + 1).joined(separator: "&")
        #expect(failure(event(contentType: form, body: many)).map(\.type) == "InvalidRequest", "the batch cap holds for forms")
    }

    /// `curl -d` labels everything a form: a JSON object is JSON, anything else is the article.
    @Test func aFormLabelledJSONObjectIsJSON() throws {
        let form = "application/x-www-form-urlencoded"
        let json = try front.payload(of: event(contentType: form, body: #"{"inputs": "An article.", "parameters": {"max_length": 60}}"#))
        #expect(json.inputs == .single("An article."))
        #expect(json.parameters?.values["max_length"] == .int(60))
        #expect(try front.payload(of: event(contentType: form, body: "Shares rose {sharply}.")).inputs == .single("Shares rose {sharply}."))
        #expect(try front.payload(of: event(contentType: form, body: "{not json at all")).inputs == .single("{not json at all"))
        #expect(try front.payload(of: event(contentType: form, body: "Up 5% on the day & more")).inputs == .single("Up 5% on the day & more"))
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
        #expect(document.count == 3)
        #expect(document["requestId"] as? String == "req-9")
        #expect(document["error_type"] as? String == "MethodNotAllowed")
        #expect(document["error"] as? String == "PUT is not supported: send the article with POST")
    }

    /// The Hugging Face Inference API's extras: `estimated_time` while the model loads.
    @Test func failuresCarryTheirExtras() throws {
        func document(_ failure: Failure) throws -> [String: Any] {
            let response = front.failure(failure, requestID: "r", for: event(body: nil))
            return try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        }
        let loading = try document(.upstream(.modelNotReady(message: "loading")))
        #expect(loading["estimated_time"] as? Double == 10)
        #expect(loading["error_type"] as? String == "ModelNotReady")
        let model = try document(.upstream(.modelError(message: "x", originalStatusCode: 400, originalMessage: nil, logStreamARN: nil)))
        #expect(model["modelStatusCode"] as? Int == 400)
        #expect(model["estimated_time"] == nil)
        #expect(try document(.upstream(.throttling(message: "x"))).count == 3)
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
