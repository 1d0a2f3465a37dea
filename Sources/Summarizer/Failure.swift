import LambdaEvents
import LambdaRuntime
import SageMakerRuntime

/// Everything that can keep an invocation from a summary, and what each kind of caller is told:
/// the one table of statuses, types and messages. An HTTP caller gets `status`, `type` and the
/// `.caller` message in a JSON body; a direct invoker a function error of `errorType` with the
/// `.invoker` message; the log the `.log` message.
enum Failure: Error, Equatable {
    // The request.
    case methodNotAllowed(method: String)
    case unsupportedMediaType(String)
    case unsupportedCharset(String)
    case invalidBase64
    /// A text body that cannot be an article.
    case invalidText(String)
    case invalidPayload(PayloadError)
    case payloadTooLarge(bytes: Int)
    // SageMaker and the model.
    case upstream(SageMakerError)
    case invalidModelResponse(String)
    /// The answer, as the front wants it, is over what Lambda can return.
    case responseTooLarge(bytes: Int)

    /// Who reads a message, and so how much of what SageMaker and the model said it may hold.
    /// Credentials never reach any of them: `SageMakerError` holds none.
    enum Audience {
        /// An anonymous HTTP caller: nothing that identifies the account (account ids, ARNs,
        /// links, log groups), and a fixed sentence for a refusal of the function's credentials.
        case caller
        /// Whoever invoked the function directly, and so holds IAM rights in the account: the
        /// model's and SageMaker's words as they are, but still the fixed sentence for a
        /// refusal of the function's credentials, with the request id to find the details by.
        case invoker(requestID: String)
        /// The function's log: everything.
        case log
    }

    /// SageMaker's limit for a real-time request body.
    static let maximumRequestBytes = 6 * 1024 * 1024

    /// What a caller can do about an answer too large to return.
    static let askForLess = "send fewer articles or ask for fewer or shorter summaries"

    static let accessDeniedMessage =
        "SageMaker refused the function's credentials or permissions: the function's log has the details under this request id"

    /// The HTTP status: the caller's own mistakes are 4xx, a busy model asks it to retry later,
    /// everything on our side of the API is 5xx.
    var status: Int {
        switch self {
        case .methodNotAllowed: 405
        case .unsupportedMediaType, .unsupportedCharset: 415
        case .invalidBase64, .invalidText, .invalidPayload: 400
        case .payloadTooLarge: 413
        case .invalidModelResponse, .responseTooLarge: 502
        case .upstream(let error):
            switch error {
            case .throttling: 429
            case .modelNotReady, .serviceUnavailable: 503
            case .accessDenied: 500
            case .timedOut: 504
            case .validation, .modelError, .internalFailure, .internalDependency, .unexpected, .transport, .answerTooLarge: 502
            }
        }
    }

    /// `error_type` of an HTTP answer: stable, for programs.
    var type: String {
        switch self {
        case .methodNotAllowed: "MethodNotAllowed"
        case .unsupportedMediaType, .unsupportedCharset: "UnsupportedMediaType"
        case .invalidBase64: "InvalidBase64"
        case .invalidText: "InvalidRequest"
        case .invalidPayload(let error): error.field == nil ? "InvalidJSON" : "InvalidRequest"
        case .payloadTooLarge: "PayloadTooLarge"
        case .invalidModelResponse: "InvalidModelResponse"
        case .responseTooLarge: "ResponseTooLarge"
        case .upstream(let error):
            switch error {
            case .validation: "EndpointValidationError"
            case .modelError: "ModelError"
            case .throttling: "Throttled"
            case .modelNotReady: "ModelNotReady"
            case .serviceUnavailable, .internalFailure, .internalDependency, .unexpected: "UpstreamUnavailable"
            case .accessDenied: "UpstreamAccessDenied"
            case .timedOut: "Timeout"
            case .transport: "UpstreamUnreachable"
            case .answerTooLarge: "ResponseTooLarge"
            }
        }
    }

    /// `errorType` of a direct invocation's function error: `type`, except that any payload
    /// problem is `InvalidPayload`, as the Python handler had it.
    var errorType: String {
        if case .invalidPayload = self { return "InvalidPayload" }
        return type
    }

    /// Headers an HTTP answer carries besides the content type and CORS.
    var headers: [HTTPEventResponse.Header] {
        switch self {
        case .methodNotAllowed: [.init("Allow", HTTPFront.allowedMethods)]
        case .upstream(.throttling): [.init("Retry-After", "1")]
        case .upstream(.modelNotReady): [.init("Retry-After", String(Self.modelLoadingSeconds))]
        case .upstream(.serviceUnavailable): [.init("Retry-After", "2")]
        default: []
        }
    }

    /// How long a loading model is expected to take, as `Retry-After` and as the Hugging Face
    /// Inference API's `estimated_time`: SageMaker does not say, and a container loads in seconds.
    static let modelLoadingSeconds = 10

    /// `estimated_time` of an HTTP answer: only for a model still loading.
    var estimatedSeconds: Int? {
        if case .upstream(.modelNotReady) = self { return Self.modelLoadingSeconds }
        return nil
    }

    /// The model's own HTTP status, when it ran and failed.
    var modelStatusCode: Int? {
        if case .upstream(.modelError(_, let status, _, _)) = self { return status }
        return nil
    }

    /// What went wrong and what to do about it, for `audience`.
    func message(for audience: Audience) -> String {
        switch (self, audience) {
        case (.upstream(.accessDenied), .caller):
            return Self.accessDeniedMessage
        case (.upstream(.accessDenied), .invoker(let requestID)):
            return "\(Self.accessDeniedMessage) (\(requestID))"
        case (_, .caller):
            return ErrorText.withoutAccountDetails(detailedMessage(withModelLogs: false))
        case (_, .invoker), (_, .log):
            return detailedMessage(withModelLogs: true)
        }
    }

    private func detailedMessage(withModelLogs: Bool) -> String {
        switch self {
        case .methodNotAllowed(let method):
            return "\(method) is not supported: send the article with POST"
        case .unsupportedMediaType(let mediaType):
            return "Content-Type \(mediaType) is not supported: send application/json ({\"inputs\": ...}) or text/plain (the article)"
        case .unsupportedCharset(let charset):
            return "charset \(charset) is not supported: send UTF-8"
        case .invalidBase64:
            return "the body is marked base64-encoded but is not valid base64"
        case .invalidText(let reason):
            return reason
        case .invalidPayload(let error):
            return error.description
        case .payloadTooLarge(let bytes):
            return "the request is \(bytes) bytes; SageMaker accepts at most \(Self.maximumRequestBytes) bytes"
        case .invalidModelResponse(let preview):
            return "the model's answer is not JSON: \(preview)"
        case .responseTooLarge(let bytes):
            return "the answer is \(bytes) bytes, over the \(LambdaRuntime.maximumResponseBytes) bytes Lambda can return: \(Self.askForLess)"
        case .upstream(let error):
            switch error {
            case .validation(let message):
                return "SageMaker refused the request: \(message)"
            case .modelError(let message, let status, let original, let logStream):
                var text = "the model failed" + (status.map { " with status \($0)" } ?? "")
                text += ": \(original ?? message)"
                if withModelLogs, let logStream { text += " (model logs: \(logStream))" }
                return text
            case .throttling(let message):
                return "SageMaker is throttling requests: \(message)"
            case .modelNotReady(let message):
                return "the model is not ready yet: \(message)"
            case .serviceUnavailable, .internalFailure, .internalDependency, .unexpected:
                return "SageMaker failed: \(error)"
            case .accessDenied(let code, let message):
                return "SageMaker refused the function's credentials (\(code)): \(message.hasSuffix(".") ? message.dropLast() : message[...]). "
                    + "Check that the execution role allows sagemaker:InvokeEndpoint on this endpoint"
            case .timedOut(let milliseconds):
                return "SageMaker did not answer within \(milliseconds) ms"
            case .transport(let transport):
                return "could not reach SageMaker: \(transport)"
            case .answerTooLarge(let limit):
                return "the model's answer is over \(limit) bytes, more than Lambda can return: \(Self.askForLess)"
            }
        }
    }
}
