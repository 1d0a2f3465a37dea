/// The input of SageMaker Runtime's InvokeEndpoint (botocore's service model,
/// `sagemaker-runtime/2017-05-13/service-2.json`), as far as this function uses it: the members
/// it never sets are left out rather than carried unset.
public struct InvokeEndpointRequest: Sendable {
    public var endpointName: String
    public var body: [UInt8]
    public var contentType: String
    public var accept: String?
    public var inferenceID: String?
    /// Sent as `X-Amzn-Trace-Id` so X-Ray links the call to the Lambda invocation.
    public var traceID: String?

    public init(
        endpointName: String, body: [UInt8], contentType: String = "application/json",
        accept: String? = "application/json", inferenceID: String? = nil, traceID: String? = nil
    ) {
        self.endpointName = endpointName
        self.body = body
        self.contentType = contentType
        self.accept = accept
        self.inferenceID = inferenceID
        self.traceID = traceID
    }

    /// The optional headers, in the service model's order.
    var optionalHeaders: [(name: String, value: String?)] {
        [
            ("Accept", accept),
            ("X-Amzn-SageMaker-Inference-Id", inferenceID),
            ("X-Amzn-Trace-Id", traceID),
        ]
    }

    /// Whether SageMaker accepts `id` as `X-Amzn-SageMaker-Inference-Id`: 1 to 64 printable ASCII
    /// characters, the first not a space (the service model's `\A\S[\p{Print}]*\z`, where Java's
    /// `\p{Print}` is ASCII 0x20–0x7E). Anything else makes SageMaker refuse the whole call.
    public static func isValidInferenceID(_ id: String) -> Bool {
        let bytes = id.utf8
        guard let first = bytes.first, bytes.count <= 64, first > 0x20, first < 0x7F else { return false }
        return bytes.allSatisfy { $0 >= 0x20 && $0 < 0x7F }
    }

    /// Endpoint names are `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}`: checking locally turns a typo into
    /// a clear error instead of a signed request to a path nobody serves.
    public static func isValidEndpointName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...63).contains(bytes.count), bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else {
            return false
        }
        return bytes.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-")
        }
    }
}

public struct InvokeEndpointResponse: Sendable {
    public var body: [UInt8]
    public var contentType: String?
    /// How many HTTP attempts it took (retries included).
    public var attempts: Int

    public init(body: [UInt8], contentType: String? = nil, attempts: Int = 1) {
        self.body = body
        self.contentType = contentType
        self.attempts = attempts
    }
}
