import Foundation
import HTTP
import Testing
@testable import SageMakerRuntime

/// The error shapes are botocore's `sagemaker-runtime` service model: the code comes from the
/// `x-amzn-ErrorType` header (`Code:namespace`) or the body's `__type` (`namespace#Code`).
@Suite struct SageMakerErrorTests {
    func error(_ status: Int, errorType: String? = nil, _ body: String) -> SageMakerError {
        let headers = errorType.map { [HTTPHeader(name: "x-amzn-ErrorType", value: $0)] } ?? []
        return SageMakerError.from(status: status, headers: headers, body: Array(body.utf8))
    }

    @Test func modelErrorKeepsTheModelsStatusMessageAndLogStream() {
        let failure = error(424, errorType: "ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/", """
            {"ErrorCode": "CLIENT_ERROR_FROM_MODEL", "LogStreamArn": "arn:aws:logs:eu-west-1:1:log-group:/aws/sagemaker/Endpoints/x",
             "Message": "Received client error (400) from primary", "OriginalMessage": "{\\"error\\": \\"bad\\"}", "OriginalStatusCode": 400}
            """)
        #expect(failure == .modelError(
            message: "Received client error (400) from primary", originalStatusCode: 400,
            originalMessage: #"{"error": "bad"}"#, logStreamARN: "arn:aws:logs:eu-west-1:1:log-group:/aws/sagemaker/Endpoints/x"))
        #expect(!failure.isRetryable, "the model answered: trying again gives the same answer")
    }

    @Test func theCodeComesFromTheHeaderOrTheBodysType() {
        #expect(error(400, errorType: "ThrottlingException:http://internal.amazon.com/", #"{"message": "Rate exceeded"}"#)
            == .throttling(message: "Rate exceeded"))
        #expect(error(403, #"{"__type": "com.amazon.coral.service#UnrecognizedClientException", "message": "bad token"}"#)
            == .accessDenied(code: "UnrecognizedClientException", message: "bad token"))
        #expect(error(400, errorType: "ValidationError", #"{"message": "Endpoint x of account 1 not found."}"#)
            == .validation(message: "Endpoint x of account 1 not found."))
    }

    @Test func retryableAsTheSDKsStandardModeJudges() {
        #expect(error(429, errorType: "ModelNotReadyException", "{}").isRetryable)
        #expect(error(503, errorType: "ServiceUnavailable", "{}").isRetryable)
        #expect(error(500, errorType: "InternalFailure", "{}").isRetryable)
        #expect(error(502, "<html>bad gateway</html>").isRetryable)
        #expect(!error(400, errorType: "ValidationError", "{}").isRetryable)
        #expect(!error(403, "").isRetryable)
        #expect(SageMakerError.transport(.couldNotConnect("refused")).isRetryable)
        #expect(!SageMakerError.timedOut(afterMilliseconds: 100).isRetryable)
    }

    @Test func answersWithoutACodeStillSayWhatHappened() {
        #expect(error(403, "") == .accessDenied(code: "AccessDenied", message: "HTTP 403 with an empty body"))
        #expect(error(502, "<html>bad gateway</html>") == .unexpected(status: 502, code: nil, message: "<html>bad gateway</html>"))
    }
}

@Suite struct InvokeEndpointRequestTests {
    @Test(arguments: [
        ("financial-summarizer", true), ("a", true), ("A-b--9", true), (String(repeating: "x", count: 63), true),
        ("", false), ("-x", false), ("x-", false), ("x_y", false), ("x/y", false), ("../x", false),
        (String(repeating: "x", count: 64), false), ("é", false),
    ])
    func endpointNamesFollowTheServiceModelsPattern(name: String, valid: Bool) {
        #expect(InvokeEndpointRequest.isValidEndpointName(name) == valid)
    }

    @Test func onlyTheMembersThatAreSetBecomeHeaders() {
        let request = InvokeEndpointRequest(endpointName: "x", body: [], inferenceID: "req-1", traceID: "Root=1-2-3")
        let set = request.optionalHeaders.compactMap { header in header.value.map { "\(header.name): \($0)" } }
        #expect(set == ["Accept: application/json", "X-Amzn-SageMaker-Inference-Id: req-1", "X-Amzn-Trace-Id: Root=1-2-3"])
    }

    @Test func defaultEndpointsPerPartition() {
        #expect(SageMakerRuntimeClient.Configuration.defaultBaseURL(region: "eu-west-1") == "https://runtime.sagemaker.eu-west-1.amazonaws.com")
        #expect(SageMakerRuntimeClient.Configuration.defaultBaseURL(region: "cn-north-1") == "https://runtime.sagemaker.cn-north-1.amazonaws.com.cn")
    }

    @Test(arguments: [
        ("https://runtime.sagemaker.eu-west-1.amazonaws.com", "https", "runtime.sagemaker.eu-west-1.amazonaws.com", ""),
        ("HTTP://127.0.0.1:8080/prefix//", "http", "127.0.0.1:8080", "/prefix"),
    ])
    func baseURLs(text: String, scheme: String, authority: String, path: String) throws {
        let url = try #require(BaseURL(text))
        #expect(url.scheme == scheme && url.authority == authority && url.path == path)
    }

    @Test(arguments: ["runtime.sagemaker.eu-west-1.amazonaws.com", "ftp://host", "https://", "https://user@host", "https://host/p?q=1", "https://host/#f"])
    func baseURLsThatCouldSendRequestsElsewhereAreRefused(text: String) {
        #expect(BaseURL(text) == nil)
    }
}
