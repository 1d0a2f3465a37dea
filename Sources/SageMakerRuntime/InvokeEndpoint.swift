/// The input of SageMaker Runtime's InvokeEndpoint, as botocore's service model defines it
/// (`sagemaker-runtime/2017-05-13/service-2.json`). Optional members become headers when set.
public struct InvokeEndpointRequest: Sendable {
    public var endpointName: String
    public var body: [UInt8]
    public var contentType: String
    public var accept: String?
    public var customAttributes: String?
    public var targetModel: String?
    public var targetVariant: String?
    public var targetContainerHostname: String?
    public var inferenceID: String?
    public var enableExplanations: String?
    public var inferenceComponentName: String?
    public var sessionID: String?
    /// Sent as `X-Amzn-Trace-Id` so X-Ray links the call to the Lambda invocation.
    public var traceID: String?

    public init(
        endpointName: String,
        body: [UInt8],
        contentType: String = "application/json",
        accept: String? = "application/json",
        customAttributes: String? = nil,
        targetModel: String? = nil,
        targetVariant: String? = nil,
        targetContainerHostname: String? = nil,
        inferenceID: String? = nil,
        enableExplanations: String? = nil,
        inferenceComponentName: String? = nil,
        sessionID: String? = nil,
        traceID: String? = nil
    ) {
        self.endpointName = endpointName
        self.body = body
        self.contentType = contentType
        self.accept = accept
        self.customAttributes = customAttributes
        self.targetModel = targetModel
        self.targetVariant = targetVariant
        self.targetContainerHostname = targetContainerHostname
        self.inferenceID = inferenceID
        self.enableExplanations = enableExplanations
        self.inferenceComponentName = inferenceComponentName
        self.sessionID = sessionID
        self.traceID = traceID
    }

    /// The optional headers, in the service model's order.
    var optionalHeaders: [(name: String, value: String?)] {
        [
            ("Accept", accept),
            ("X-Amzn-SageMaker-Custom-Attributes", customAttributes),
            ("X-Amzn-SageMaker-Target-Model", targetModel),
            ("X-Amzn-SageMaker-Target-Variant", targetVariant),
            ("X-Amzn-SageMaker-Target-Container-Hostname", targetContainerHostname),
            ("X-Amzn-SageMaker-Inference-Id", inferenceID),
            ("X-Amzn-SageMaker-Enable-Explanations", enableExplanations),
            ("X-Amzn-SageMaker-Inference-Component", inferenceComponentName),
            ("X-Amzn-SageMaker-Session-Id", sessionID),
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
    public var invokedProductionVariant: String?
    public var customAttributes: String?
    public var newSessionID: String?
    public var closedSessionID: String?
    /// How many HTTP attempts it took (retries included).
    public var attempts: Int

    public init(
        body: [UInt8], contentType: String? = nil, invokedProductionVariant: String? = nil, customAttributes: String? = nil,
        newSessionID: String? = nil, closedSessionID: String? = nil, attempts: Int = 1
    ) {
        self.body = body
        self.contentType = contentType
        self.invokedProductionVariant = invokedProductionVariant
        self.customAttributes = customAttributes
        self.newSessionID = newSessionID
        self.closedSessionID = closedSessionID
        self.attempts = attempts
    }
}
