import SageMakerRuntime
import SigV4

/// Everything the function reads from its environment, checked once at start-up so a
/// misconfigured function fails its init with a message saying what to fix.
public struct Configuration: Sendable {
    public var endpointName: String
    public var region: String
    public var credentials: AWSCredentials
    /// The SageMaker Runtime base URL: the regional one, or `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`,
    /// or `AWS_ENDPOINT_URL`, the same precedence as the AWS SDKs.
    public var endpointURL: String
    /// Upper bound for one InvokeEndpoint call, retries included (`SAGEMAKER_TIMEOUT_MS`).
    /// SageMaker gives a model 60 s to answer.
    public var sageMakerTimeoutMilliseconds: Int
    public var connectTimeoutMilliseconds: Int
    public var maxAttempts: Int
    /// Time kept back before the Lambda deadline to post an answer (`DEADLINE_MARGIN_MS`).
    public var deadlineMarginMilliseconds: Int
    public var caBundlePath: String?
    /// Browser origins allowed to call through an HTTP front (`CORS_ALLOWED_ORIGINS`); none by default.
    public var cors: CORSPolicy
    /// Ceilings on what one request may ask of the model, checked before SageMaker is called.
    public var limits: RequestLimits

    /// Where Amazon Linux keeps its CA bundle, then Debian's (for local runs).
    public static let caBundleCandidates = [
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/certs/ca-certificates.crt",
    ]

    public static func fromEnvironment(
        _ environment: [String: String],
        fileExists: (String) -> Bool
    ) throws(ConfigurationError) -> Configuration {
        guard let endpointName = nonEmpty(environment["ENDPOINT_NAME"]) else { throw .missingEndpointName }
        guard InvokeEndpointRequest.isValidEndpointName(endpointName) else { throw .invalidEndpointName(endpointName) }
        guard let region = nonEmpty(environment["AWS_REGION"]) ?? nonEmpty(environment["AWS_DEFAULT_REGION"]) else {
            throw .missingRegion
        }
        guard let credentials = AWSCredentials.fromEnvironment(environment) else { throw .missingCredentials }

        let endpointURL = nonEmpty(environment["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"])
            ?? nonEmpty(environment["AWS_ENDPOINT_URL"])
            ?? SageMakerRuntimeClient.Configuration.defaultBaseURL(region: region)
        let lowercasedURL = endpointURL.lowercased()
        guard lowercasedURL.hasPrefix("https://") || lowercasedURL.hasPrefix("http://") else {
            throw .invalidEndpointURL(endpointURL)
        }

        var caBundlePath: String? = nil
        if lowercasedURL.hasPrefix("https://") {
            let candidates = (nonEmpty(environment["SSL_CERT_FILE"]).map { [$0] } ?? []) + caBundleCandidates
            guard let found = candidates.first(where: fileExists) else { throw .noCABundle(searched: candidates) }
            caBundlePath = found
        }

        return Configuration(
            endpointName: endpointName,
            region: region,
            credentials: credentials,
            endpointURL: endpointURL,
            sageMakerTimeoutMilliseconds: try integer(environment, "SAGEMAKER_TIMEOUT_MS", default: 60_000, in: 1...900_000),
            connectTimeoutMilliseconds: try integer(environment, "SAGEMAKER_CONNECT_TIMEOUT_MS", default: 2_000, in: 1...60_000),
            maxAttempts: try integer(environment, "AWS_MAX_ATTEMPTS", default: 3, in: 1...10),
            deadlineMarginMilliseconds: try integer(environment, "DEADLINE_MARGIN_MS", default: 500, in: 0...60_000),
            caBundlePath: caBundlePath,
            cors: CORSPolicy(configuration: environment["CORS_ALLOWED_ORIGINS"]),
            limits: RequestLimits(
                returnSequences: try integer(environment, "MAX_RETURN_SEQUENCES", default: RequestLimits.default.returnSequences, in: 1...ParameterRule.Cap.returnSequences.ceiling),
                beams: try integer(environment, "MAX_NUM_BEAMS", default: RequestLimits.default.beams, in: 1...ParameterRule.Cap.beams.ceiling),
                generationTokens: try integer(environment, "MAX_GENERATION_TOKENS", default: RequestLimits.default.generationTokens, in: 1...ParameterRule.Cap.generationTokens.ceiling),
                batchArticles: try integer(environment, "MAX_BATCH_ARTICLES", default: RequestLimits.default.batchArticles, in: 1...10_000)))
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value, !value.isEmpty else { return nil }
        return value
    }

    private static func integer(
        _ environment: [String: String], _ name: String, default defaultValue: Int, in range: ClosedRange<Int>
    ) throws(ConfigurationError) -> Int {
        guard let text = nonEmpty(environment[name]) else { return defaultValue }
        guard let value = Int(text), range.contains(value) else {
            throw .invalidNumber(name: name, value: text, range: range)
        }
        return value
    }
}

/// What one request may ask of the endpoint. The cost of a generation grows with the number of
/// articles, beams, returned sequences and tokens, and the endpoint bills by the instance-hour:
/// one request allowed `num_beams: 64` and `max_length: 100000` could hold a GPU for minutes.
/// The defaults fit a Pegasus summariser (its summaries are well under 1,024 tokens).
public struct RequestLimits: Sendable, Equatable {
    /// `num_return_sequences` (`MAX_RETURN_SEQUENCES`).
    public var returnSequences: Int
    /// `num_beams` and `num_beam_groups` (`MAX_NUM_BEAMS`).
    public var beams: Int
    /// `max_length`, `max_new_tokens`, `min_length` and `min_new_tokens` (`MAX_GENERATION_TOKENS`):
    /// a minimum forces as much generation as a maximum allows.
    public var generationTokens: Int
    /// Articles in one `inputs` list (`MAX_BATCH_ARTICLES`).
    public var batchArticles: Int

    public static let `default` = RequestLimits(returnSequences: 8, beams: 8, generationTokens: 1_024, batchArticles: 32)

    public init(returnSequences: Int, beams: Int, generationTokens: Int, batchArticles: Int) {
        self.returnSequences = returnSequences
        self.beams = beams
        self.generationTokens = generationTokens
        self.batchArticles = batchArticles
    }
}

public enum ConfigurationError: Error, Equatable, CustomStringConvertible {
    case missingEndpointName
    case invalidEndpointName(String)
    case missingRegion
    case missingCredentials
    case invalidEndpointURL(String)
    case invalidNumber(name: String, value: String, range: ClosedRange<Int>)
    case noCABundle(searched: [String])

    public var description: String {
        switch self {
        case .missingEndpointName:
            "ENDPOINT_NAME is not set: set it to the name of the SageMaker endpoint to call"
        case .invalidEndpointName(let name):
            "ENDPOINT_NAME \"\(name)\" is not a SageMaker endpoint name (1 to 63 letters, digits and hyphens, no hyphen at either end)"
        case .missingRegion:
            "AWS_REGION is not set (Lambda sets it; set it yourself when running elsewhere)"
        case .missingCredentials:
            "no AWS credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set (Lambda sets them from the execution role)"
        case .invalidEndpointURL(let url):
            "the SageMaker endpoint URL \"\(url)\" (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME or AWS_ENDPOINT_URL) must start with https:// or http://"
        case .invalidNumber(let name, let value, let range):
            "\(name) is \"\(value)\"; it must be a whole number from \(range.lowerBound) to \(range.upperBound)"
        case .noCABundle(let searched):
            "no CA certificate bundle found for TLS (looked at \(searched.joined(separator: ", "))); set SSL_CERT_FILE"
        }
    }
}
