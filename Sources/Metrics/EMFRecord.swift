import JSON

/// Where an invocation's metrics go in CloudWatch. The variables are Powertools for AWS Lambda's,
/// so a stack that already sets them for Powertools functions gets the same namespace and service.
public struct MetricsConfiguration: Sendable, Equatable {
    /// `POWERTOOLS_METRICS_NAMESPACE`.
    public var namespace: String
    /// `POWERTOOLS_SERVICE_NAME`, else the function's name: the one dimension, so every metric has
    /// one time series per stack, whatever the traffic.
    public var service: String

    public static let defaultNamespace = "SageMakerSummarizer"

    public init(namespace: String, service: String) {
        self.namespace = namespace
        self.service = service
    }

    /// `nil` when `POWERTOOLS_METRICS_DISABLED` is `true`. A namespace or service CloudWatch
    /// would refuse (empty, over its length limit) falls back to the default rather than losing
    /// every record.
    public static func fromEnvironment(_ environment: [String: String]) -> MetricsConfiguration? {
        if environment["POWERTOOLS_METRICS_DISABLED"]?.lowercased() == "true" { return nil }
        func usable(_ value: String?, limit: Int) -> String? {
            guard let value, !value.isEmpty, value.utf8.count <= limit else { return nil }
            return value
        }
        return MetricsConfiguration(
            namespace: usable(environment["POWERTOOLS_METRICS_NAMESPACE"], limit: EMFRecord.maximumNamespaceBytes) ?? defaultNamespace,
            service: usable(environment["POWERTOOLS_SERVICE_NAME"], limit: EMFRecord.maximumDimensionValueBytes)
                ?? usable(environment["AWS_LAMBDA_FUNCTION_NAME"], limit: EMFRecord.maximumDimensionValueBytes)
                ?? "summarizer")
    }
}

/// How an invocation ended, in the few classes an operator acts on differently. Each is a metric
/// of its own (0 or 1 per invocation) rather than a dimension value, so an alarm or a graph names
/// it directly and the metric count stays fixed.
public enum Outcome: String, CaseIterable, Sendable {
    case succeeded = "Succeeded"
    /// The caller's mistake (4xx other than throttling): nothing for the operator to fix.
    case invalidRequest = "InvalidRequests"
    /// SageMaker throttled every attempt.
    case throttled = "Throttled"
    /// The model ran and failed, or answered something that is not JSON.
    case modelError = "ModelErrors"
    case timeout = "Timeouts"
    /// DNS, TCP or TLS failed on every attempt.
    case unreachable = "UpstreamUnreachable"
    /// SageMaker's 5xx, or a model still loading, on every attempt.
    case unavailable = "UpstreamUnavailable"
    /// SageMaker's `ValidationError`: usually a wrong or deleted endpoint.
    case validation = "EndpointValidationErrors"
    /// The function's own credentials or permissions were refused.
    case accessDenied = "UpstreamAccessDenied"
    case responseTooLarge = "ResponseTooLarge"

    public var metricName: String { rawValue }
}

/// What one invocation did, for its metrics record.
public struct InvocationFigures: Sendable, Equatable {
    public var outcome: Outcome
    /// The HTTP status answered (direct invocations: 200, or the status their failure has over HTTP).
    public var status: Int
    /// The failure's `errorType`, when there was one.
    public var errorType: String?
    /// Time to the answer.
    public var milliseconds: Double
    /// The InvokeEndpoint call, retries included; `nil` when SageMaker was not called.
    public var sageMakerMilliseconds: Double?
    public var attempts: Int
    public var articles: Int
    public var responseBytes: Int
    public var coldStart: Bool
    public var requestID: String
    /// The X-Ray trace id (`Root`), as Powertools logs it.
    public var traceID: String?

    public init(
        outcome: Outcome, status: Int, errorType: String? = nil, milliseconds: Double,
        sageMakerMilliseconds: Double?, attempts: Int, articles: Int, responseBytes: Int,
        coldStart: Bool, requestID: String, traceID: String?
    ) {
        self.outcome = outcome
        self.status = status
        self.errorType = errorType
        self.milliseconds = milliseconds
        self.sageMakerMilliseconds = sageMakerMilliseconds
        self.attempts = attempts
        self.articles = articles
        self.responseBytes = responseBytes
        self.coldStart = coldStart
        self.requestID = requestID
        self.traceID = traceID
    }
}

/// One invocation as a CloudWatch embedded metric format (EMF) log event: a JSON object whose
/// `_aws.CloudWatchMetrics` directive tells CloudWatch Logs which members to turn into metrics.
/// Writing it is all it takes: no client library and no call to CloudWatch.
public enum EMFRecord {
    public enum Unit: String, Sendable {
        case milliseconds = "Milliseconds"
        case count = "Count"
        case bytes = "Bytes"
    }

    /// The specification's limits, which the record is built (and tested) to stay inside.
    public static let maximumMetricsPerDirective = 100
    public static let maximumDimensionsPerSet = 30
    public static let maximumNamespaceBytes = 1024
    public static let maximumDimensionValueBytes = 1024

    /// The metrics every record defines, in order. `SageMakerLatency` is defined only when
    /// SageMaker was called: a member the directive names must be in the record.
    public static func metrics(calledSageMaker: Bool) -> [(name: String, unit: Unit)] {
        var metrics: [(name: String, unit: Unit)] = [("Latency", .milliseconds)]
        if calledSageMaker { metrics.append(("SageMakerLatency", .milliseconds)) }
        metrics += [("SageMakerAttempts", .count), ("Articles", .count), ("ResponseBytes", .bytes), ("ColdStart", .count)]
        metrics += Outcome.allCases.map { ($0.metricName, .count) }
        return metrics
    }

    /// What every record of one configuration shares, built once: the directive (with and without
    /// `SageMakerLatency`) and the outcome counters for each outcome. A record is then the
    /// timestamp and a few numbers.
    public struct Layout: Sendable {
        /// `,"CloudWatchMetrics":[…]},"service":"…"`, for a record without and with a SageMaker call.
        let directives: [String]
        /// `,"Succeeded":1,"InvalidRequests":0,…`, by `Outcome.allCases` index.
        let outcomes: [String]

        public init(_ configuration: MetricsConfiguration) {
            directives = [false, true].map { calledSageMaker in
                var text = ",\"CloudWatchMetrics\":[{\"Namespace\":\(configuration.namespace.jsonQuoted)"
                text += ",\"Dimensions\":[[\"service\"]],\"Metrics\":["
                text += EMFRecord.metrics(calledSageMaker: calledSageMaker)
                    .map { "{\"Name\":\"\($0.name)\",\"Unit\":\"\($0.unit.rawValue)\"}" }
                    .joined(separator: ",")
                return text + "]}]},\"service\":\(configuration.service.jsonQuoted)"
            }
            outcomes = Outcome.allCases.map { outcome in
                Outcome.allCases.map { ",\"\($0.metricName)\":\($0 == outcome ? 1 : 0)" }.joined()
            }
        }
    }

    /// The record as one line (no newline), `timestampMilliseconds` since 1970.
    public static func line(
        _ figures: InvocationFigures, configuration: MetricsConfiguration, timestampMilliseconds: Int64
    ) -> String {
        line(figures, layout: Layout(configuration), timestampMilliseconds: timestampMilliseconds)
    }

    public static func line(_ figures: InvocationFigures, layout: Layout, timestampMilliseconds: Int64) -> String {
        var line = "{\"_aws\":{\"Timestamp\":"
        line.reserveCapacity(2048)
        line += String(timestampMilliseconds)
        line += layout.directives[figures.sageMakerMilliseconds == nil ? 0 : 1]
        // The members the directive names (the dimension is in the directive's text), then the
        // outcome counters.
        line += ",\"Latency\":" + number(figures.milliseconds)
        if let sageMaker = figures.sageMakerMilliseconds { line += ",\"SageMakerLatency\":" + number(sageMaker) }
        line += ",\"SageMakerAttempts\":" + String(figures.attempts) + ",\"Articles\":" + String(figures.articles)
        line += ",\"ResponseBytes\":" + String(figures.responseBytes) + ",\"ColdStart\":" + (figures.coldStart ? "1" : "0")
        line += layout.outcomes[Outcome.allCases.firstIndex(of: figures.outcome)!]
        // Not metrics: what CloudWatch Logs Insights finds the invocation by (Powertools' names).
        line += ",\"level\":\"INFO\",\"message\":\"metrics\",\"cold_start\":" + (figures.coldStart ? "true" : "false")
        line += ",\"function_request_id\":" + figures.requestID.jsonQuoted
        if let traceID = figures.traceID { line += ",\"xray_trace_id\":" + traceID.jsonQuoted }
        line += ",\"status\":" + String(figures.status) + ",\"outcome\":\"" + figures.outcome.rawValue + "\""
        if let errorType = figures.errorType { line += ",\"error_type\":" + errorType.jsonQuoted }
        return line + "}"
    }

    /// Milliseconds to the microsecond; a non-finite value (which JSON cannot hold) as 0.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        guard abs(value) < 1e15 else { return String(value) }
        return String((value * 1000).rounded() / 1000)
    }
}
