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
    private let encoder: JSONEncoder

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
        encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
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
        let result = Result { () throws(SummarizeFailure) -> Data in
            try summarize(try decodeDirect(invocation.event), context: invocation.context, metrics: &metrics)
        }

        let status: String
        switch result {
        case .success: status = "ok"
        case .failure(let failure): status = failure.functionError.type
        }
        logger.log(.info, "invocation", requestID: invocation.context.requestID, [
            "kind": "direct",
            "status": .string(status),
            "ms": .double(MonotonicClock.millisecondsSince(start)),
            "sagemakerMs": .double(metrics.milliseconds),
            "attempts": .int(metrics.attempts),
            "bytesIn": .int(invocation.event.count),
            "bytesOut": .int((try? result.get())?.count ?? 0),
        ])
        switch result {
        case .success(let body):
            return body
        case .failure(let failure):
            logger.log(.error, failure.functionError.message, requestID: invocation.context.requestID,
                       ["errorType": .string(failure.functionError.type)])
            throw failure.functionError
        }
    }

    func decodeDirect(_ event: Data) throws(SummarizeFailure) -> SummarizeRequest {
        do {
            return try SummarizeRequest.decode(json: event)
        } catch {
            throw .invalidPayload(error)
        }
    }

    /// Sends `request` to the endpoint within the time the invocation has left and returns the
    /// model's JSON answer.
    func summarize(
        _ request: SummarizeRequest, context: LambdaContext, metrics: inout SageMakerRuntimeClient.CallMetrics
    ) throws(SummarizeFailure) -> Data {
        let body: Data
        do {
            body = try encoder.encode(request)
        } catch {
            throw .invalidPayload(PayloadError(field: nil, "cannot be encoded as JSON: \(error)"))
        }
        let budget = min(
            configuration.sageMakerTimeoutMilliseconds,
            Int(context.remainingMilliseconds()) - configuration.deadlineMarginMilliseconds)
        guard budget > 0 else { throw .upstream(.timedOut(afterMilliseconds: 0)) }

        let invokeRequest = InvokeEndpointRequest(
            endpointName: configuration.endpointName,
            body: body,
            inferenceID: context.requestID,
            traceID: context.traceID)
        let response: InvokeEndpointResponse
        do {
            response = try sageMaker.invokeEndpoint(invokeRequest, timeBudgetMilliseconds: budget, metrics: &metrics)
        } catch {
            throw .upstream(error)
        }
        // The answer goes back as JSON, so it has to be JSON; the model's text is kept for the error.
        guard (try? JSONDecoder().decode(JSONValue.self, from: response.body)) != nil else {
            throw .invalidModelResponse(String(decoding: response.body.prefix(200), as: UTF8.self))
        }
        return response.body
    }
}

/// Why a summary could not be produced.
enum SummarizeFailure: Error {
    case invalidPayload(PayloadError)
    case upstream(SageMakerError)
    case invalidModelResponse(String)

    /// The error a direct invocation reports: `errorType` names the failure, `errorMessage`
    /// says what to do about it.
    var functionError: FunctionError {
        switch self {
        case .invalidPayload(let error):
            return FunctionError(type: "InvalidPayload", message: error.description)
        case .invalidModelResponse(let preview):
            return FunctionError(type: "InvalidModelResponse", message: "the model's answer is not JSON: \(preview)")
        case .upstream(let error):
            switch error {
            case .validation(let message):
                return FunctionError(type: "EndpointValidationError", message: "SageMaker refused the request: \(message)")
            case .modelError(_, let status, let original, let logStream):
                var message = "the model failed" + (status.map { " with status \($0)" } ?? "")
                if let original { message += ": \(original)" }
                if let logStream { message += " (model logs: \(logStream))" }
                return FunctionError(type: "ModelError", message: message)
            case .throttling(let message):
                return FunctionError(type: "Throttled", message: "SageMaker is throttling requests: \(message)")
            case .modelNotReady(let message):
                return FunctionError(type: "ModelNotReady", message: "the model is not ready yet: \(message)")
            case .serviceUnavailable, .internalFailure, .internalDependency, .unexpected:
                return FunctionError(type: "UpstreamUnavailable", message: "SageMaker failed: \(error)")
            case .accessDenied(let code, let message):
                return FunctionError(
                    type: "UpstreamAccessDenied",
                    message: "SageMaker refused the function's credentials (\(code)): \(message). Check the execution role allows sagemaker:InvokeEndpoint on this endpoint")
            case .timedOut(let milliseconds):
                return FunctionError(type: "Timeout", message: "SageMaker did not answer within \(milliseconds) ms")
            case .transport(let transport):
                return FunctionError(type: "UpstreamUnreachable", message: "could not reach SageMaker: \(transport)")
            }
        }
    }
}
