import Foundation
import JSON
import LambdaEvents
import LambdaRuntime
import SageMakerRuntime
import Testing
@testable import Summarizer

/// Who is told what when SageMaker or the model fails (README, Security).
@Suite struct SummarizeFailureTests {
    static let accountMessage = "Endpoint financial-summarizer of account 123456789012 not found."
    static let logStream = "arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/financial-summarizer"

    @Test func aRefusalOfTheFunctionsCredentialsIsAFixedSentenceOutsideTheLog() {
        let failure = SummarizeFailure.upstream(.accessDenied(code: "InvalidSignatureException", message: "The request signature we calculated does not match"))
        #expect(failure.message(for: .caller) == SummarizeFailure.accessDeniedMessage)
        #expect(failure.message(for: .invoker(requestID: "req-1")) == SummarizeFailure.accessDeniedMessage + " (req-1)")
        #expect(failure.message(for: .log).contains("InvalidSignatureException"))
        #expect(failure.message(for: .log).contains("The request signature we calculated does not match"))
        #expect(failure.httpProblem == HTTPProblem(status: 500, type: "UpstreamAccessDenied", message: SummarizeFailure.accessDeniedMessage))
    }

    @Test func anonymousCallersDoNotLearnTheAccountButKeepWhatHelpsThem() {
        let validation = SummarizeFailure.upstream(.validation(message: Self.accountMessage))
        #expect(validation.httpProblem.message == "SageMaker refused the request: Endpoint financial-summarizer of account [account] not found.")
        #expect(validation.message(for: .invoker(requestID: "r")).contains("123456789012"), "a direct invoker is inside the account")

        let model = SummarizeFailure.upstream(.modelError(
            message: "Received client error (400) from primary", originalStatusCode: 400,
            originalMessage: "Input is too long for the tokenizer (1300 > 1024 tokens)", logStreamARN: Self.logStream))
        #expect(model.httpProblem.message == "the model failed with status 400: Input is too long for the tokenizer (1300 > 1024 tokens)")
        #expect(model.httpProblem.modelStatusCode == 400)
        #expect(model.message(for: .log).contains(Self.logStream))
        #expect(model.message(for: .invoker(requestID: "r")).contains(Self.logStream))
    }

    @Test func everyUpstreamFailureIsCleanForAnonymousCallers() {
        let failures: [SummarizeFailure] = [
            .upstream(.throttling(message: "Rate exceeded for account 123456789012")),
            .upstream(.unexpected(status: 502, code: nil, message: "see arn:aws:iam::123456789012:role/x")),
            .upstream(.modelError(message: "See https://console.aws.amazon.com/x in account 123456789012", originalStatusCode: nil,
                                  originalMessage: nil, logStreamARN: Self.logStream)),
            .invalidModelResponse("<html>account 123456789012</html>"),
        ]
        for failure in failures {
            let message = failure.httpProblem.message
            #expect(!message.contains("123456789012") && !message.contains("arn:") && !message.contains("https://"), "\(message)")
        }
    }

    @Test func oversizedAnswersAreTheirOwnKindOfFailure() {
        let upstream = SummarizeFailure.upstream(.answerTooLarge(limit: LambdaRuntime.maximumResponseBytes))
        let encoded = SummarizeFailure.responseTooLarge(bytes: 6_400_000)
        for failure in [upstream, encoded] {
            #expect(failure.type == "ResponseTooLarge")
            #expect(failure.httpProblem.status == 502)
            #expect(failure.httpProblem.message.contains("fewer"), "says what to do about it")
        }
    }

    /// However long an upstream's words, a body's message stays within 1 KiB once escaped.
    @Test func messagesInBodiesAreCapped() throws {
        let long = String(repeating: "\"quoted\" \u{1}", count: 2_000)
        let failure = SummarizeFailure.upstream(.validation(message: long))
        let event = HTTPEvent(kind: .httpAPI, method: "POST")
        let response = HTTPFront(cors: CORSPolicy()).failure(failure.httpProblem, requestID: "req-1", for: event)
        let document = try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
        let error = try #require(document["error"] as? [String: Any])
        let message = try #require(error["message"] as? String)
        #expect(message.hasSuffix(String.cutMarker))
        let escaped = String(decoding: JSONValue.string(message).serialized(), as: UTF8.self)
        #expect(escaped.utf8.count - 2 <= HTTPFront.maximumMessageBytes)
        #expect(escaped.utf8.count - 2 > HTTPFront.maximumMessageBytes - 16, "cut at the limit, not far before it")
    }
}
