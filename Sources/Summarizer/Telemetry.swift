import LambdaRuntime
import Metrics
import SageMakerRuntime
import Tracing

#if canImport(Glibc)
import Glibc
#endif

/// What the function tells operators besides its log lines: one EMF metrics record per
/// invocation, and the SageMaker call as an X-Ray subsegment when the invocation's trace is
/// sampled. Read once per process; the cold-start flag is the one thing the workers share.
public struct Telemetry: Sendable {
    public var metrics: MetricsWriter?
    /// `AWS_XRAY_DAEMON_ADDRESS`, which Lambda sets when tracing is active.
    public var xrayDaemonAddress: String?
    public var coldStart: ColdStartFlag

    public init(metrics: MetricsWriter?, xrayDaemonAddress: String?, coldStart: ColdStartFlag = ColdStartFlag()) {
        self.metrics = metrics
        self.xrayDaemonAddress = xrayDaemonAddress
        self.coldStart = coldStart
    }

    /// Neither metrics nor traces.
    public static func off() -> Telemetry { Telemetry(metrics: nil, xrayDaemonAddress: nil) }

    public static func fromEnvironment(_ environment: [String: String]) -> Telemetry {
        Telemetry(
            metrics: MetricsConfiguration.fromEnvironment(environment).map { MetricsWriter(configuration: $0) },
            xrayDaemonAddress: environment["AWS_XRAY_DAEMON_ADDRESS"].flatMap { $0.isEmpty ? nil : $0 })
    }
}

/// What the handler gathers during one invocation for its log line, metrics and trace.
struct InvocationRecord {
    var call = SageMakerRuntimeClient.CallMetrics()
    /// When the InvokeEndpoint call began (epoch seconds); `nil` when SageMaker was not called.
    var callStarted: Double?
    var articles = 0
    var failure: Failure?
    var coldStart = false
}

/// An invocation's metrics and subsegment, kept until its answer is posted.
struct PendingTelemetry {
    var figures: InvocationFigures
    var subsegment: Subsegment?
}

extension Telemetry {
    /// The figures of a finished invocation, and its subsegment when the trace wants one.
    func pending(
        _ record: InvocationRecord, context: LambdaContext, status: Int, milliseconds: Double, responseBytes: Int,
        region: String, endpointName: String
    ) -> PendingTelemetry {
        let trace = context.traceID.flatMap(TraceHeader.init)
        let figures = InvocationFigures(
            outcome: record.failure?.outcome ?? .succeeded, status: status, errorType: record.failure?.errorType,
            milliseconds: milliseconds, sageMakerMilliseconds: record.callStarted == nil ? nil : record.call.milliseconds,
            attempts: record.call.attempts, articles: record.articles, responseBytes: responseBytes,
            coldStart: record.coldStart, requestID: context.requestID, traceID: trace?.root)
        var subsegment: Subsegment?
        if xrayDaemonAddress != nil, let trace, trace.wantsSubsegments, let started = record.callStarted {
            var upstream: SageMakerError?
            if case .upstream(let error) = record.failure { upstream = error }
            let (httpStatus, status) = upstream.map(Self.traceStatus) ?? (200, .ok)
            subsegment = Subsegment(
                name: "SageMakerRuntime", id: Subsegment.newID(), trace: trace,
                startTime: started, endTime: started + record.call.milliseconds / 1000,
                operation: "InvokeEndpoint", region: region, attempts: record.call.attempts,
                httpStatus: httpStatus, status: status,
                errorType: upstream == nil ? nil : record.failure?.type,
                errorMessage: upstream == nil ? nil : record.failure?.message(for: .caller),
                metadata: [("endpoint_name", endpointName)])
        }
        return PendingTelemetry(figures: figures, subsegment: subsegment)
    }

    /// The status SageMaker answered with, where the error says, and X-Ray's flag for it.
    static func traceStatus(_ error: SageMakerError) -> (Int?, Subsegment.Status) {
        switch error {
        case .validation: (400, .clientError(throttled: false))
        case .modelError: (424, .clientError(throttled: false))
        case .throttling: (nil, .clientError(throttled: true))
        case .modelNotReady: (429, .clientError(throttled: true))
        case .accessDenied: (nil, .clientError(throttled: false))
        case .serviceUnavailable: (503, .fault)
        case .internalFailure: (500, .fault)
        case .internalDependency: (530, .fault)
        case .unexpected(let status, _, _): (status, status < 500 ? .clientError(throttled: status == 429) : .fault)
        case .timedOut, .transport: (nil, .fault)
        // The endpoint answered, but more than the function can pass on.
        case .answerTooLarge: (200, .fault)
        }
    }

    /// Wall-clock epoch seconds, for X-Ray's times.
    static func nowSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}

extension Failure {
    /// The metric a failure counts in. By `type`, the stable name callers see, so that a new
    /// case of the table lands in its class without a change here.
    var outcome: Outcome {
        switch type {
        case "Throttled": .throttled
        case "ModelError", "InvalidModelResponse": .modelError
        case "ModelNotReady", "UpstreamUnavailable": .unavailable
        case "Timeout": .timeout
        case "UpstreamUnreachable": .unreachable
        case "EndpointValidationError": .validation
        case "UpstreamAccessDenied": .accessDenied
        case "ResponseTooLarge": .responseTooLarge
        default: status < 500 ? .invalidRequest : .unavailable
        }
    }
}

extension SummarizerHandler {
    /// Writes the metrics record and sends the subsegment, once the answer is posted: neither
    /// delays the caller. An answer Lambda refused for its size counts as `ResponseTooLarge`.
    func flush(_ pending: PendingTelemetry, _ delivery: Delivery) {
        var figures = pending.figures
        if case .tooLarge = delivery {
            figures.outcome = .responseTooLarge
            figures.status = 502
            figures.errorType = "ResponseTooLarge"
        }
        telemetry.metrics?.write(figures)
        if let subsegment = pending.subsegment { xray?.send(subsegment.datagram) }
    }
}
