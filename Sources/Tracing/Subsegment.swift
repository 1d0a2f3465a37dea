import JSON

/// A downstream call as an X-Ray subsegment document, sent on its own ("type": "subsegment") under
/// the function's segment. Follows the segment document schema: the required `name`, `id`,
/// `trace_id`, `start_time`, `end_time`, plus `parent_id`, the `aws` namespace and the flags.
public struct Subsegment: Sendable {
    public enum Status: Sendable, Equatable {
        case ok
        /// A 4xx: `error`, and `throttle` too for a 429.
        case clientError(throttled: Bool)
        /// A 5xx, a time-out or a transport failure: `fault`.
        case fault
    }

    public var name: String
    /// 16 hex digits, unique within the trace.
    public var id: String
    public var trace: TraceHeader
    /// Epoch seconds.
    public var startTime: Double
    public var endTime: Double
    /// The AWS operation, e.g. `InvokeEndpoint`.
    public var operation: String
    public var region: String
    public var attempts: Int
    /// The HTTP status of the last answer, when there was one.
    public var httpStatus: Int?
    public var status: Status
    /// What went wrong, for the subsegment's `cause`.
    public var errorType: String?
    public var errorMessage: String?
    /// Extra, unindexed facts (`metadata`), e.g. the endpoint name.
    public var metadata: [(String, String)]
    /// The id of the exception in `cause`.
    public var causeID: String

    public init(
        name: String, id: String, trace: TraceHeader, startTime: Double, endTime: Double,
        operation: String, region: String, attempts: Int, httpStatus: Int?, status: Status,
        errorType: String? = nil, errorMessage: String? = nil, metadata: [(String, String)] = [],
        causeID: String = Subsegment.newID()
    ) {
        self.name = name
        self.id = id
        self.trace = trace
        self.startTime = startTime
        self.endTime = endTime
        self.operation = operation
        self.region = region
        self.attempts = attempts
        self.httpStatus = httpStatus
        self.status = status
        self.errorType = errorType
        self.errorMessage = errorMessage
        self.metadata = metadata
        self.causeID = causeID
    }

    /// A new random subsegment id.
    public static func newID() -> String {
        var random = SystemRandomNumberGenerator()
        let value = random.next() as UInt64
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }

    /// The most of an error message a document carries: X-Ray keeps documents under 64 kB and
    /// a UDP datagram to the daemon must fit too.
    static let maximumMessageCharacters = 1024

    /// The JSON document (without the daemon's header line).
    public var document: String {
        var json = "{\"name\":\(name.jsonQuoted),\"id\":\"\(id)\",\"trace_id\":\"\(trace.root)\""
        if let parent = trace.parent { json += ",\"parent_id\":\"\(parent)\"" }
        json += ",\"type\":\"subsegment\",\"start_time\":\(Self.seconds(startTime)),\"end_time\":\(Self.seconds(endTime))"
        json += ",\"namespace\":\"aws\""
        json += ",\"aws\":{\"operation\":\(operation.jsonQuoted),\"region\":\(region.jsonQuoted),\"retries\":\(max(0, attempts - 1))}"
        if let httpStatus { json += ",\"http\":{\"response\":{\"status\":\(httpStatus)}}" }
        switch status {
        case .ok: break
        case .clientError(let throttled):
            json += ",\"error\":true"
            if throttled { json += ",\"throttle\":true" }
        case .fault:
            json += ",\"fault\":true"
        }
        if let errorType {
            let message = String((errorMessage ?? errorType).prefix(Self.maximumMessageCharacters))
            json += ",\"cause\":{\"exceptions\":[{\"id\":\"\(causeID)\",\"type\":\(errorType.jsonQuoted)"
            json += ",\"message\":\(message.jsonQuoted),\"remote\":true}]}"
        }
        json += ",\"metadata\":{\"default\":{\"attempts\":\(attempts)"
        for (key, value) in metadata { json += ",\(key.jsonQuoted):\(value.jsonQuoted)" }
        return json + "}}}"
    }

    /// The datagram the X-Ray daemon reads: its header line, then the document.
    public var datagram: String {
        "{\"format\":\"json\",\"version\":1}\n" + document
    }

    /// Epoch seconds to the microsecond, in plain decimal.
    static func seconds(_ value: Double) -> String {
        let micros = Int64((value * 1_000_000).rounded())
        let fraction = String(micros % 1_000_000)
        return "\(micros / 1_000_000).\(String(repeating: "0", count: 6 - fraction.count))\(fraction)"
    }
}
