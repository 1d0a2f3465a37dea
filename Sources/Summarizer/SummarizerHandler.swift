import HTTP
import JSON
import LambdaEvents
import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif
import SageMakerRuntime

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The function: a payload in, the model's summaries out.
public struct SummarizerHandler: LambdaHandler {
    let configuration: Configuration
    let logger: Logger
    let sageMaker: SageMakerRuntimeClient
    let front: HTTPFront
    /// The invocation's log line, written once the answer is posted (see `afterResponse`).
    private var pendingLogLine: InvocationLogLine?

    public init(configuration: Configuration, logger: Logger) throws(FunctionError) {
        self.configuration = configuration
        self.logger = logger
        do {
            sageMaker = try SageMakerRuntimeClient(configuration: .init(
                baseURL: configuration.endpointURL,
                region: configuration.region,
                credentials: configuration.credentials,
                caBundlePath: configuration.caBundlePath,
                connectTimeoutMilliseconds: configuration.connectTimeoutMilliseconds,
                maxAttempts: configuration.maxAttempts,
                // More than Lambda can return is of no use: the read stops there.
                maximumAnswerBytes: LambdaRuntime.maximumResponseBytes))
        } catch {
            throw FunctionError(.runtime, type: "InvalidConfiguration", message: "cannot create the SageMaker client: \(error)")
        }
        front = HTTPFront(cors: configuration.cors)
    }

    /// The deployed function's configuration, or the init error that explains what to fix.
    public static func configuration(from environment: [String: String]) throws(FunctionError) -> Configuration {
        do {
            return try Configuration.fromEnvironment(environment) { access($0, R_OK) == 0 }
        } catch {
            throw FunctionError(.runtime, type: "InvalidConfiguration", message: error.description)
        }
    }

    public mutating func handle(_ invocation: Invocation) throws(FunctionError) -> Data {
        let start = MonotonicClock.nowNanoseconds()
        var metrics = SageMakerRuntimeClient.CallMetrics()
        let event: Result<LambdaEvent, PayloadError>
        do {
            event = .success(LambdaEvent.classify(try JSONValue(parsing: invocation.event)))
        } catch {
            event = .failure(PayloadError(field: nil, JSONProblem.describe(error)))
        }

        switch event {
        case .failure(let error):
            return try finishDirect(invocation, .failure(.invalidPayload(error)), start: start, metrics: metrics)

        case .success(.direct(let value)):
            let result = Result { () throws(SummarizeFailure) -> Data in
                let request: SummarizeRequest
                do throws(PayloadError) {
                    request = try SummarizeRequest.from(value, document: invocation.event)
                } catch {
                    throw .invalidPayload(error)
                }
                return try summarize(request, context: invocation.context, metrics: &metrics)
            }
            return try finishDirect(invocation, result, start: start, metrics: metrics)

        case .success(.http(let request)):
            var response = respond(to: request, context: invocation.context, metrics: &metrics)
            var output = response.encoded(for: request)
            // The body is escaped into the envelope, so a model answer under Lambda's limit can
            // still make a response over it: answer that, rather than have Lambda refuse it.
            if output.count > LambdaRuntime.maximumResponseBytes {
                let failure = SummarizeFailure.responseTooLarge(bytes: output.count)
                logger.log(.error, failure.message(for: .log), requestID: invocation.context.requestID, ["errorType": .string(failure.type)])
                response = front.failure(failure.httpProblem, requestID: invocation.context.requestID, for: request)
                output = response.encoded(for: request)
            }
            logInvocation(invocation, kind: request.kind.rawValue, status: String(response.status), start: start, metrics: metrics, bytesOut: output.count)
            return output
        }
    }

    /// Direct invocations keep the Python handler's contract: the model's JSON is the result,
    /// and a failure is a Lambda function error.
    private mutating func finishDirect(
        _ invocation: Invocation, _ result: Result<Data, SummarizeFailure>, start: UInt64,
        metrics: SageMakerRuntimeClient.CallMetrics
    ) throws(FunctionError) -> Data {
        switch result {
        case .success(let output):
            logInvocation(invocation, kind: "direct", status: "ok", start: start, metrics: metrics, bytesOut: output.count)
            return output
        case .failure(let failure):
            let requestID = invocation.context.requestID
            logInvocation(invocation, kind: "direct", status: failure.type, start: start, metrics: metrics, bytesOut: 0)
            logger.log(.error, failure.message(for: .log), requestID: requestID, ["errorType": .string(failure.type)])
            throw FunctionError(type: failure.type, message: failure.message(for: .invoker(requestID: requestID)))
        }
    }

    private func respond(
        to request: HTTPEvent, context: LambdaContext, metrics: inout SageMakerRuntimeClient.CallMetrics
    ) -> HTTPEventResponse {
        if request.method == "OPTIONS" { return front.preflight(request) }
        do {
            let payload: SummarizeRequest
            do {
                payload = try front.payload(of: request)
            } catch {
                logger.log(.warn, error.message, requestID: context.requestID, ["errorType": .string(error.type), "status": .int(error.status)])
                return front.failure(error, requestID: context.requestID, for: request)
            }
            let answer = try summarize(payload, context: context, metrics: &metrics, inferenceID: request.requestID)
            return front.success(answer, for: request)
        } catch {
            logger.log(.error, error.message(for: .log), requestID: context.requestID, ["errorType": .string(error.type)])
            return front.failure(error.httpProblem, requestID: context.requestID, for: request)
        }
    }

    private mutating func logInvocation(
        _ invocation: Invocation, kind: String, status: String, start: UInt64,
        metrics: SageMakerRuntimeClient.CallMetrics, bytesOut: Int
    ) {
        guard logger.isEnabled(.info) else { return }
        pendingLogLine = InvocationLogLine(
            requestID: invocation.context.requestID, kind: kind, status: status,
            milliseconds: MonotonicClock.millisecondsSince(start), metrics: metrics,
            bytesIn: invocation.event.count, bytesOut: bytesOut)
    }

    /// Formatting and writing the log line no longer delays the answer. An answer that did not
    /// reach the caller as built is logged with what happened instead of its status.
    public mutating func afterResponse(_ delivery: Delivery) {
        guard let line = pendingLogLine else { return }
        pendingLogLine = nil
        let status = switch delivery {
        case .posted: line.status
        case .tooLarge: "ResponseTooLarge"
        case .refused(let status): "RefusedByRuntimeAPI(\(status))"
        case .failed: "NotDelivered"
        }
        logger.log(.info, "invocation", requestID: line.requestID, [
            "kind": .string(line.kind),
            "status": .string(status),
            "ms": .double(line.milliseconds),
            "sagemakerMs": .double(line.metrics.milliseconds),
            "attempts": .int(line.metrics.attempts),
            "bytesIn": .int(line.bytesIn),
            "bytesOut": .int(line.bytesOut),
        ])
    }

    /// Sends `request` to the endpoint within the time the invocation has left and returns the
    /// model's JSON answer.
    func summarize(
        _ request: SummarizeRequest, context: LambdaContext, metrics: inout SageMakerRuntimeClient.CallMetrics,
        inferenceID: String? = nil
    ) throws(SummarizeFailure) -> Data {
        do throws(PayloadError) { try request.check(configuration.limits) } catch { throw .invalidPayload(error) }
        let body = request.body
        guard body.count <= HTTPFront.maximumBodyBytes else { throw .payloadTooLarge(bytes: body.count) }
        if logger.isEnabled(.debug) {
            // Articles can be long and private: only a debug level shows a short preview.
            let first: String = switch request.inputs {
            case .single(let text): text
            case .batch(let texts): texts.first ?? ""
            }
            logger.log(.debug, "payload", requestID: context.requestID, [
                "articles": .int(request.inputs.count),
                "bytes": .int(body.count),
                "preview": .string(String(first.prefix(80))),
            ])
        }
        let budget = min(
            configuration.sageMakerTimeoutMilliseconds,
            Int(context.remainingMilliseconds()) - configuration.deadlineMarginMilliseconds)
        guard budget > 0 else { throw .upstream(.timedOut(afterMilliseconds: 0)) }

        // The front's request id ties the model's logs to the caller's request, but it comes from
        // outside: anything SageMaker would refuse (an ALB trace header is too long) or that
        // could break the header is replaced by Lambda's own request id.
        let invokeRequest = InvokeEndpointRequest(
            endpointName: configuration.endpointName,
            body: body,
            inferenceID: inferenceID.flatMap { InvokeEndpointRequest.isValidInferenceID($0) ? $0 : nil } ?? context.requestID,
            traceID: context.traceID)
        let response: InvokeEndpointResponse
        do {
            response = try sageMaker.invokeEndpoint(invokeRequest, timeBudgetMilliseconds: budget, metrics: &metrics)
        } catch {
            throw .upstream(error)
        }
        // The answer goes back as JSON, so it has to be JSON; the model's text is kept for the error.
        guard (try? JSONValue.validate(response.body)) != nil else {
            throw .invalidModelResponse(String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }
}

/// What the one `info` line per invocation says.
private struct InvocationLogLine {
    var requestID: String
    var kind: String
    var status: String
    var milliseconds: Double
    var metrics: SageMakerRuntimeClient.CallMetrics
    var bytesIn: Int
    var bytesOut: Int
}

/// Why a summary could not be produced, with the `type` both kinds of caller see: the
/// `errorType` of a direct invocation and the `error.type` of an HTTP answer.
enum SummarizeFailure: Error {
    case invalidPayload(PayloadError)
    case payloadTooLarge(bytes: Int)
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

    static let accessDeniedMessage =
        "SageMaker refused the function's credentials or permissions: the function's log has the details under this request id"

    var type: String {
        switch self {
        case .invalidPayload: "InvalidPayload"
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
        case .invalidPayload(let error):
            return error.description
        case .payloadTooLarge(let bytes):
            return HTTPProblem.tooLarge(bytes: bytes).message
        case .invalidModelResponse(let preview):
            return "the model's answer is not JSON: \(preview)"
        case .responseTooLarge(let bytes):
            return "the answer is \(bytes) bytes, over the \(LambdaRuntime.maximumResponseBytes) bytes Lambda can return: "
                + "send fewer articles or ask for fewer or shorter summaries"
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
                return "the model's answer is over \(limit) bytes, more than Lambda can return: "
                    + "send fewer articles or ask for fewer or shorter summaries"
            }
        }
    }

    /// The HTTP answer a web client would want: its own mistakes are 4xx, a busy model asks it
    /// to retry later, everything on our side of the API is 5xx.
    var httpProblem: HTTPProblem {
        var problem = HTTPProblem(status: 502, type: type, message: message(for: .caller))
        switch self {
        case .invalidPayload(let error):
            problem.status = 400
            problem.type = error.field == nil ? "InvalidJSON" : "InvalidRequest"
        case .payloadTooLarge:
            problem.status = 413
        case .invalidModelResponse, .responseTooLarge:
            problem.status = 502
        case .upstream(let error):
            switch error {
            case .modelError(_, let status, _, _):
                problem.modelStatusCode = status
            case .throttling:
                problem.status = 429
                problem.headers = [.init("Retry-After", "1")]
            case .modelNotReady:
                problem.status = 503
                problem.headers = [.init("Retry-After", "10")]
            case .serviceUnavailable:
                problem.status = 503
                problem.headers = [.init("Retry-After", "2")]
            case .accessDenied:
                problem.status = 500
            case .timedOut:
                problem.status = 504
            case .validation, .internalFailure, .internalDependency, .unexpected, .transport, .answerTooLarge:
                problem.status = 502
            }
        }
        return problem
    }
}
