import HTTPClient
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
                maxAttempts: configuration.maxAttempts))
        } catch {
            throw FunctionError(.runtime, type: "InvalidConfiguration", message: "cannot create the SageMaker client: \(error)")
        }
        front = HTTPFront(cors: configuration.cors)
    }

    /// The handler as the deployed function configures it, or the init error that explains why not.
    public static func fromEnvironment(_ environment: [String: String], logger: Logger) throws(FunctionError) -> SummarizerHandler {
        let configuration: Configuration
        do {
            configuration = try Configuration.fromEnvironment(environment) { access($0, R_OK) == 0 }
        } catch {
            throw FunctionError(.runtime, type: "InvalidConfiguration", message: error.description)
        }
        return try SummarizerHandler(configuration: configuration, logger: logger)
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
            let response = respond(to: request, context: invocation.context, metrics: &metrics)
            let output = response.encoded(for: request)
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
            logInvocation(invocation, kind: "direct", status: failure.type, start: start, metrics: metrics, bytesOut: 0)
            logger.log(.error, failure.message, requestID: invocation.context.requestID, ["errorType": .string(failure.type)])
            throw FunctionError(type: failure.type, message: failure.message)
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
            logger.log(.error, error.message, requestID: context.requestID, ["errorType": .string(error.type)])
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

    /// Formatting and writing the log line no longer delays the answer.
    public mutating func afterResponse() {
        guard let line = pendingLogLine else { return }
        pendingLogLine = nil
        logger.log(.info, "invocation", requestID: line.requestID, [
            "kind": .string(line.kind),
            "status": .string(line.status),
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

        let invokeRequest = InvokeEndpointRequest(
            endpointName: configuration.endpointName,
            body: body,
            inferenceID: inferenceID ?? context.requestID,
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

    var type: String {
        switch self {
        case .invalidPayload: "InvalidPayload"
        case .payloadTooLarge: "PayloadTooLarge"
        case .invalidModelResponse: "InvalidModelResponse"
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
            }
        }
    }

    /// What went wrong and what to do about it; never credentials.
    var message: String {
        switch self {
        case .invalidPayload(let error):
            return error.description
        case .payloadTooLarge(let bytes):
            return HTTPProblem.tooLarge(bytes: bytes).message
        case .invalidModelResponse(let preview):
            return "the model's answer is not JSON: \(preview)"
        case .upstream(let error):
            switch error {
            case .validation(let message):
                return "SageMaker refused the request: \(message)"
            case .modelError(_, let status, let original, let logStream):
                var message = "the model failed" + (status.map { " with status \($0)" } ?? "")
                if let original { message += ": \(original)" }
                if let logStream { message += " (model logs: \(logStream))" }
                return message
            case .throttling(let message):
                return "SageMaker is throttling requests: \(message)"
            case .modelNotReady(let message):
                return "the model is not ready yet: \(message)"
            case .serviceUnavailable, .internalFailure, .internalDependency, .unexpected:
                return "SageMaker failed: \(error)"
            case .accessDenied(let code, let message):
                return "SageMaker refused the function's credentials (\(code)): \(message). "
                    + "Check that the execution role allows sagemaker:InvokeEndpoint on this endpoint"
            case .timedOut(let milliseconds):
                return "SageMaker did not answer within \(milliseconds) ms"
            case .transport(let transport):
                return "could not reach SageMaker: \(transport)"
            }
        }
    }

    /// The HTTP answer a web client would want: its own mistakes are 4xx, a busy model asks it
    /// to retry later, everything on our side of the API is 5xx.
    var httpProblem: HTTPProblem {
        var problem = HTTPProblem(status: 502, type: type, message: message)
        switch self {
        case .invalidPayload(let error):
            problem.status = 400
            problem.type = error.field == nil ? "InvalidJSON" : "InvalidRequest"
        case .payloadTooLarge:
            problem.status = 413
        case .invalidModelResponse:
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
            case .validation, .internalFailure, .internalDependency, .unexpected, .transport:
                problem.status = 502
            }
        }
        return problem
    }
}
