import HTTP
import JSON

/// Why an InvokeEndpoint call failed: the service's own error codes, then transport failures.
public enum SageMakerError: Error, Equatable, CustomStringConvertible {
    /// 400: the request is wrong, e.g. the endpoint does not exist or the body is not accepted.
    case validation(message: String)
    /// 424: the model container answered with an error of its own.
    case modelError(message: String, originalStatusCode: Int?, originalMessage: String?, logStreamARN: String?)
    /// The account's invocation rate is exceeded.
    case throttling(message: String)
    /// 429: the model (or inference component) is still loading.
    case modelNotReady(message: String)
    /// 503
    case serviceUnavailable(message: String)
    /// 500
    case internalFailure(message: String)
    /// 530
    case internalDependency(message: String)
    /// 403 and friends: a bad signature, unknown or expired credentials, no IAM permission.
    case accessDenied(code: String, message: String)
    /// An error the service model does not name.
    case unexpected(status: Int, code: String?, message: String)
    /// The call did not finish within its time budget.
    case timedOut(afterMilliseconds: Int)
    /// The answer was longer than the function could pass on; the rest of it was not read.
    case answerTooLarge(limit: Int)
    /// The endpoint could not be reached (DNS, TCP, TLS) or dropped the connection.
    case transport(HTTPClientError)

    public var description: String {
        switch self {
        case .validation(let message): "ValidationError: \(message)"
        case .modelError(let message, let status, let original, _):
            "ModelError: \(message)" + (status.map { " (model status \($0))" } ?? "") + (original.map { ": \($0)" } ?? "")
        case .throttling(let message): "ThrottlingException: \(message)"
        case .modelNotReady(let message): "ModelNotReadyException: \(message)"
        case .serviceUnavailable(let message): "ServiceUnavailable: \(message)"
        case .internalFailure(let message): "InternalFailure: \(message)"
        case .internalDependency(let message): "InternalDependencyException: \(message)"
        case .accessDenied(let code, let message): "\(code): \(message)"
        case .unexpected(let status, let code, let message): "HTTP \(status) \(code ?? "unknown error"): \(message)"
        case .timedOut(let ms): "no answer from SageMaker within \(ms) ms"
        case .answerTooLarge(let limit): "SageMaker's answer is over \(limit) bytes"
        case .transport(let error): "could not reach SageMaker: \(error)"
        }
    }

    /// Worth another attempt, as the AWS SDKs' standard retry mode judges it.
    public var isRetryable: Bool {
        switch self {
        case .throttling, .modelNotReady, .serviceUnavailable, .internalFailure, .internalDependency: true
        case .transport(let error): error.isConnectionFailure
        case .unexpected(let status, _, _): status == 502 || status == 503 || status == 504
        default: false
        }
    }

    /// Builds the error from a non-2xx answer: `x-amzn-ErrorType` (`Code:namespace…`) names it,
    /// the JSON body carries `message` and, for ModelError, the model's own status and message.
    /// Every text taken from the answer goes through `ErrorText.withoutSecrets` with `secrets`
    /// (the caller's credentials): AWS may quote them back.
    public static func from(status: Int, headers: [HTTPHeader], body: [UInt8], secrets: [String] = []) -> SageMakerError {
        // AWS's rest-json errors: `message` (or `Message`), `__type`, and ModelError's members.
        let decoded = try? JSONValue(parsing: body)
        let text = { (name: String) in decoded?[name]?.stringValue }
        let clean = { (text: String) in ErrorText.withoutSecrets(text, secrets: secrets) }
        var originalStatusCode: Int? = nil
        if case .int(let status)? = decoded?["OriginalStatusCode"] { originalStatusCode = status }
        let headerCode = headers.first { $0.name.lowercased() == "x-amzn-errortype" }?.value
        let rawCode = headerCode ?? text("__type")
        let code = rawCode.map { raw -> String in
            let withoutNamespace = raw.split(separator: ":", maxSplits: 1).first.map(String.init) ?? raw
            return clean(withoutNamespace.split(separator: "#").last.map(String.init) ?? withoutNamespace)
        }
        let message = clean(text("message") ?? text("Message")
            ?? (body.isEmpty ? "HTTP \(status) with an empty body" : String(decoding: body.prefix(500), as: UTF8.self)))

        switch code {
        case "ValidationError": return .validation(message: message)
        case "ModelError":
            return .modelError(message: message, originalStatusCode: originalStatusCode,
                               originalMessage: text("OriginalMessage").map(clean), logStreamARN: text("LogStreamArn").map(clean))
        case "ThrottlingException", "Throttling", "TooManyRequestsException": return .throttling(message: message)
        case "ModelNotReadyException": return .modelNotReady(message: message)
        case "ServiceUnavailable": return .serviceUnavailable(message: message)
        case "InternalFailure": return .internalFailure(message: message)
        case "InternalDependencyException": return .internalDependency(message: message)
        case "AccessDeniedException", "InvalidSignatureException", "IncompleteSignatureException",
             "MissingAuthenticationTokenException", "UnrecognizedClientException", "ExpiredTokenException",
             "InvalidClientTokenId", "SignatureDoesNotMatch":
            return .accessDenied(code: code!, message: message)
        default:
            if status == 403 { return .accessDenied(code: code ?? "AccessDenied", message: message) }
            return .unexpected(status: status, code: code, message: message)
        }
    }
}
