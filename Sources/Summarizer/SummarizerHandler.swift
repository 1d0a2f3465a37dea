import HTTP
import JSON
import LambdaEvents
import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif
import SageMakerRuntime
import Tracing

/// The function: a payload in, the model's summaries out.
public struct SummarizerHandler: LambdaHandler {
    let configuration: Configuration
    let logger: Logger
    let sageMaker: SageMakerRuntimeClient
    let front: HTTPFront
    /// The invocation's log line, written once the answer is posted (see `afterResponse`).
    private var pendingLogLine: InvocationLogLine?
    let telemetry: Telemetry
    /// This worker's socket to the X-Ray daemon, when tracing is on.
    let xray: UDPSender?
    private var pendingTelemetry: PendingTelemetry?

    public init(configuration: Configuration, logger: Logger, telemetry: Telemetry = .off()) throws(FunctionError) {
        self.configuration = configuration
        self.logger = logger
        self.telemetry = telemetry
        do throws(UDPSenderError) {
            xray = try telemetry.xrayDaemonAddress.map { address throws(UDPSenderError) in try UDPSender(address: address) }
        } catch {
            // Tracing is an aid: without it the function still answers.
            logger.log(.warn, "X-Ray subsegments are off: AWS_XRAY_DAEMON_ADDRESS \(error)")
            xray = nil
        }
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
        front = HTTPFront(cors: configuration.cors, limits: configuration.limits)
    }

    /// The deployed function's configuration, or the init error that explains what to fix.
    public static func configuration(from environment: [String: String]) throws(FunctionError) -> Configuration {
        do {
            return try Configuration.fromEnvironment(environment) { access($0, R_OK) == 0 }
        } catch {
            throw FunctionError(.runtime, type: "InvalidConfiguration", message: error.description)
        }
    }

    public mutating func handle(_ invocation: Invocation) throws(FunctionError) -> [UInt8] {
        let start = MonotonicClock.nowNanoseconds()
        var metrics = InvocationRecord()
        metrics.coldStart = telemetry.coldStart.take()
        let event: Result<LambdaEvent, PayloadError>
        do {
            event = .success(LambdaEvent.classify(try JSONValue(parsing: invocation.event)))
        } catch {
            event = .failure(PayloadError.notJSON(error))
        }

        switch event {
        case .failure(let error):
            return try finishDirect(invocation, .failure(.invalidPayload(error)), start: start, metrics: metrics)

        case .success(.direct(let value)):
            let result = Result { () throws(Failure) -> [UInt8] in
                let request: SummarizeRequest
                do throws(PayloadError) {
                    request = try SummarizeRequest.from(value, document: invocation.event, limits: configuration.limits)
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
                let failure = Failure.responseTooLarge(bytes: output.count)
                metrics.failure = failure
                logger.log(.error, failure.message(for: .log), requestID: invocation.context.requestID, ["errorType": .string(failure.type)])
                response = front.failure(failure, requestID: invocation.context.requestID, for: request)
                output = response.encoded(for: request)
            }
            logInvocation(invocation, kind: request.kind.rawValue, status: String(response.status), start: start, metrics: metrics,
                          bytesOut: output.count, httpStatus: response.status)
            return output
        }
    }

    /// Direct invocations keep the Python handler's contract: the model's JSON is the result,
    /// and a failure is a Lambda function error.
    private mutating func finishDirect(
        _ invocation: Invocation, _ result: Result<[UInt8], Failure>, start: UInt64,
        metrics: InvocationRecord
    ) throws(FunctionError) -> [UInt8] {
        switch result {
        case .success(let output):
            logInvocation(invocation, kind: "direct", status: "ok", start: start, metrics: metrics, bytesOut: output.count, httpStatus: 200)
            return output
        case .failure(let failure):
            let requestID = invocation.context.requestID
            var metrics = metrics
            metrics.failure = failure
            logInvocation(invocation, kind: "direct", status: failure.errorType, start: start, metrics: metrics, bytesOut: 0, httpStatus: failure.status)
            logger.log(.error, failure.message(for: .log), requestID: requestID, ["errorType": .string(failure.errorType)])
            throw FunctionError(type: failure.errorType, message: failure.message(for: .invoker(requestID: requestID)))
        }
    }

    private func respond(
        to request: HTTPEvent, context: LambdaContext, metrics: inout InvocationRecord
    ) -> HTTPEventResponse {
        if request.method == "OPTIONS" { return front.preflight(request) }
        do throws(Failure) {
            let answer = try summarize(try front.payload(of: request), context: context, metrics: &metrics, inferenceID: request.requestID)
            return front.success(answer, for: request)
        } catch {
            metrics.failure = error
            // The caller's mistakes are warnings; what went wrong on our side of the API, errors.
            logger.log(error.status < 500 ? .warn : .error, error.message(for: .log), requestID: context.requestID,
                       ["errorType": .string(error.type), "status": .int(error.status)])
            return front.failure(error, requestID: context.requestID, for: request)
        }
    }

    private mutating func logInvocation(
        _ invocation: Invocation, kind: String, status: String, start: UInt64,
        metrics: InvocationRecord, bytesOut: Int, httpStatus: Int
    ) {
        let milliseconds = MonotonicClock.millisecondsSince(start)
        if telemetry.metrics != nil || xray != nil {
            pendingTelemetry = telemetry.pending(
                metrics, context: invocation.context, status: httpStatus, milliseconds: milliseconds, responseBytes: bytesOut,
                region: configuration.region, endpointName: configuration.endpointName)
        }
        guard logger.isEnabled(.info) else { return }
        pendingLogLine = InvocationLogLine(
            requestID: invocation.context.requestID, kind: kind, status: status,
            milliseconds: milliseconds, metrics: metrics.call,
            bytesIn: invocation.event.count, bytesOut: bytesOut)
    }

    /// Writes the invocation's log line, after the answer went out so that it does not delay it.
    /// An answer that did not reach the caller as built is logged with what happened instead of
    /// its status.
    public mutating func afterResponse(_ delivery: Delivery) {
        if let pending = pendingTelemetry {
            pendingTelemetry = nil
            flush(pending, delivery)
        }
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
        _ request: SummarizeRequest, context: LambdaContext, metrics: inout InvocationRecord,
        inferenceID: String? = nil
    ) throws(Failure) -> [UInt8] {
        metrics.articles = request.inputs.count
        let body = request.body
        guard body.count <= Failure.maximumRequestBytes else { throw .payloadTooLarge(bytes: body.count) }
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
        metrics.callStarted = Telemetry.nowSeconds()
        do {
            response = try sageMaker.invokeEndpoint(invokeRequest, timeBudgetMilliseconds: budget, metrics: &metrics.call)
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
