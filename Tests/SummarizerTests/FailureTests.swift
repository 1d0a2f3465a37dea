import Foundation
import JSON
import LambdaEvents
import LambdaRuntime
import SageMakerRuntime
import Testing
@testable import Summarizer

/// Who is told what when SageMaker or the model fails (README, Security).
@Suite struct FailureTests {
    /// The one table: every failure's HTTP status, `error.type`, direct `errorType` and headers.
    @Test(arguments: [
        (Failure.methodNotAllowed(method: "GET"), 405, "MethodNotAllowed", "MethodNotAllowed", "Allow: OPTIONS, POST"),
        (.unsupportedMediaType("text/html"), 415, "UnsupportedMediaType", "UnsupportedMediaType", ""),
        (.unsupportedCharset("latin1"), 415, "UnsupportedMediaType", "UnsupportedMediaType", ""),
        (.invalidBase64, 400, "InvalidBase64", "InvalidBase64", ""),
        (.invalidText("the body is empty"), 400, "InvalidRequest", "InvalidRequest", ""),
        (.invalidPayload(PayloadError(field: nil, "not JSON")), 400, "InvalidJSON", "InvalidPayload", ""),
        (.invalidPayload(PayloadError(field: "inputs", "is required")), 400, "InvalidRequest", "InvalidPayload", ""),
        (.payloadTooLarge(bytes: 7_000_000), 413, "PayloadTooLarge", "PayloadTooLarge", ""),
        (.upstream(.throttling(message: "Rate exceeded")), 429, "Throttled", "Throttled", "Retry-After: 1"),
        (.upstream(.modelNotReady(message: "loading")), 503, "ModelNotReady", "ModelNotReady", "Retry-After: 10"),
        (.upstream(.serviceUnavailable(message: "x")), 503, "UpstreamUnavailable", "UpstreamUnavailable", "Retry-After: 2"),
        (.upstream(.internalFailure(message: "x")), 502, "UpstreamUnavailable", "UpstreamUnavailable", ""),
        (.upstream(.internalDependency(message: "x")), 502, "UpstreamUnavailable", "UpstreamUnavailable", ""),
        (.upstream(.unexpected(status: 502, code: nil, message: "x")), 502, "UpstreamUnavailable", "UpstreamUnavailable", ""),
        (.upstream(.validation(message: "x")), 502, "EndpointValidationError", "EndpointValidationError", ""),
        (.upstream(.modelError(message: "x", originalStatusCode: 400, originalMessage: nil, logStreamARN: nil)), 502, "ModelError", "ModelError", ""),
        (.upstream(.accessDenied(code: "AccessDeniedException", message: "x")), 500, "UpstreamAccessDenied", "UpstreamAccessDenied", ""),
        (.upstream(.timedOut(afterMilliseconds: 100)), 504, "Timeout", "Timeout", ""),
        (.upstream(.transport(.connectTimedOut("x"))), 502, "UpstreamUnreachable", "UpstreamUnreachable", ""),
        (.upstream(.answerTooLarge(limit: 6)), 502, "ResponseTooLarge", "ResponseTooLarge", ""),
        (.invalidModelResponse("<html>"), 502, "InvalidModelResponse", "InvalidModelResponse", ""),
        (.responseTooLarge(bytes: 7_000_000), 502, "ResponseTooLarge", "ResponseTooLarge", ""),
    ] as [(Failure, Int, String, String, String)])
    func statusTypeAndHeaders(failure: Failure, status: Int, type: String, errorType: String, header: String) {
        #expect(failure.status == status)
        #expect(failure.type == type)
        #expect(failure.errorType == errorType)
        #expect(failure.headers.map { "\($0.name): \($0.value)" } == (header.isEmpty ? [] : [header]))
        #expect(!failure.message(for: .caller).isEmpty && !failure.message(for: .log).isEmpty)
    }

    static let accountMessage = "Endpoint financial-summarizer of account 123456789012 not found."
    static let logStream = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/financial-summarizer"

    @Test func aRefusalOfTheFunctionsCredentialsIsAFixedSentenceOutsideTheLog() {
        let failure = Failure.upstream(.accessDenied(code: "InvalidSignatureException", message: "The request signature we calculated does not match"))
        #expect(failure.message(for: .caller) == Failure.accessDeniedMessage)
        #expect(failure.message(for: .invoker(requestID: "req-1")) == Failure.accessDeniedMessage + " (req-1)")
        #expect(failure.message(for: .log).contains("InvalidSignatureException"))
        #expect(failure.message(for: .log).contains("The request signature we calculated does not match"))
        #expect(failure.status == 500 && failure.type == "UpstreamAccessDenied")
    }

    @Test func anonymousCallersDoNotLearnTheAccountButKeepWhatHelpsThem() {
        let validation = Failure.upstream(.validation(message: Self.accountMessage))
        #expect(validation.message(for: .caller) == "SageMaker refused the request: Endpoint financial-summarizer of account [account] not found.")
        #expect(validation.message(for: .invoker(requestID: "r")).contains("123456789012"), "a direct invoker is inside the account")

        let model = Failure.upstream(.modelError(
            message: "Received client error (400) from primary", originalStatusCode: 400,
            originalMessage: "Input is too long for the tokenizer (1300 > 1024 tokens)", logStreamARN: Self.logStream))
        #expect(model.message(for: .caller) == "the model failed with status 400: Input is too long for the tokenizer (1300 > 1024 tokens)")
        #expect(model.modelStatusCode == 400)
        #expect(model.message(for: .log).contains(Self.logStream))
        #expect(model.message(for: .invoker(requestID: "r")).contains(Self.logStream))
    }

    @Test func everyUpstreamFailureIsCleanForAnonymousCallers() {
        let failures: [Failure] = [
            .upstream(.throttling(message: "Rate exceeded for account 123456789012")),
            .upstream(.unexpected(status: 502, code: nil, message: "see arn:aws:iam::123456789012:role/x")),
            .upstream(.modelError(message: "See https://console.aws.amazon.com/x in account 123456789012", originalStatusCode: nil,
                                  originalMessage: nil, logStreamARN: Self.logStream)),
            .invalidModelResponse("<html>account 123456789012</html>"),
        ]
        for failure in failures {
            let message = failure.message(for: .caller)
            #expect(!message.contains("123456789012") && !message.contains("arn:") && !message.contains("https://"), "\(message)")
        }
    }

    @Test func oversizedAnswersAreTheirOwnKindOfFailure() {
        let upstream = Failure.upstream(.answerTooLarge(limit: LambdaRuntime.maximumResponseBytes))
        let encoded = Failure.responseTooLarge(bytes: 6_400_000)
        for failure in [upstream, encoded] {
            #expect(failure.type == "ResponseTooLarge")
            #expect(failure.status == 502)
            #expect(failure.message(for: .caller).contains("fewer"), "says what to do about it")
        }
    }

    /// However long an upstream's words, a body's message stays within 1 KiB once escaped.
    @Test func messagesInBodiesAreCapped() throws {
        let long = String(repeating: "\"quoted\" \u{1}", count: 2_000)
        let failure = Failure.upstream(.validation(message: long))
        let event = HTTPEvent(kind: .httpAPI, method: "POST")
        let response = HTTPFront(cors: CORSPolicy()).failure(failure, requestID: "req-1", for: event)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        let message = try #require(document["error"] as? String)
        #expect(message.hasSuffix(String.cutMarker))
        let escaped = String(decoding: JSONValue.string(message).serialized(), as: UTF8.self)
        #expect(escaped.utf8.count - 2 <= HTTPFront.maximumMessageBytes)
        #expect(escaped.utf8.count - 2 > HTTPFront.maximumMessageBytes - 16, "cut at the limit, not far before it")
    }
}
