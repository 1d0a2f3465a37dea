import CurlHTTP
import HTTP
import SigV4

#if canImport(Glibc)
import Glibc
#endif

/// SageMaker Runtime's InvokeEndpoint over one kept-alive connection, signed with SigV4 and
/// retried like the AWS SDKs' standard mode, always within the caller's time budget.
public final class SageMakerRuntimeClient {
    public struct Configuration: Sendable {
        /// `https://runtime.sagemaker.{region}.amazonaws.com`, or an override for tests and VPC endpoints.
        public var baseURL: String
        public var region: String
        public var credentials: AWSCredentials
        public var caBundlePath: String?
        public var connectTimeoutMilliseconds: Int
        /// Attempts per call, first included (`AWS_MAX_ATTEMPTS`, 3 by default as in the SDKs).
        public var maxAttempts: Int
        /// Full-jitter exponential backoff: a retry waits a random time up to
        /// `min(maxBackoff, baseBackoff × 2^retry)`.
        public var baseBackoffMilliseconds: Int
        public var maxBackoffMilliseconds: Int
        /// A longer answer is cut off and reported as `answerTooLarge`: the process never holds
        /// more of it than this, whatever the endpoint sends.
        public var maximumAnswerBytes: Int

        public init(
            baseURL: String, region: String, credentials: AWSCredentials, caBundlePath: String? = nil,
            connectTimeoutMilliseconds: Int = 2_000, maxAttempts: Int = 3,
            baseBackoffMilliseconds: Int = 100, maxBackoffMilliseconds: Int = 20_000,
            maximumAnswerBytes: Int = 6 * 1024 * 1024
        ) {
            self.baseURL = baseURL
            self.region = region
            self.credentials = credentials
            self.caBundlePath = caBundlePath
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.maxAttempts = maxAttempts
            self.baseBackoffMilliseconds = baseBackoffMilliseconds
            self.maxBackoffMilliseconds = maxBackoffMilliseconds
            self.maximumAnswerBytes = maximumAnswerBytes
        }

        /// The default endpoint for a region, as the SDKs resolve it.
        public static func defaultBaseURL(region: String) -> String {
            let suffix = region.hasPrefix("cn-") ? "amazonaws.com.cn" : "amazonaws.com"
            return "https://runtime.sagemaker.\(region).\(suffix)"
        }
    }

    /// What one call cost, for the invocation's log line.
    public struct CallMetrics: Sendable, Equatable {
        public var attempts = 0
        public var milliseconds = 0.0
        public init() {}
    }

    public let configuration: Configuration
    private let http: CurlHTTPClient
    private let signer: SigV4Signer
    private let scheme: String
    private let authority: String
    private let basePath: String
    /// What AWS may quote back in an error and must never be passed on.
    private let secrets: [String]

    public init(configuration: Configuration) throws(HTTPClientError) {
        guard let url = BaseURL(configuration.baseURL) else { throw .invalidURL(configuration.baseURL) }
        self.configuration = configuration
        (scheme, authority, basePath) = (url.scheme, url.authority, url.path)
        http = try CurlHTTPClient(configuration: .init(caBundlePath: configuration.caBundlePath))
        signer = SigV4Signer(credentials: configuration.credentials, region: configuration.region, service: "sagemaker")
        let credentials = configuration.credentials
        secrets = [credentials.accessKeyID, credentials.secretAccessKey] + (credentials.sessionToken.map { [$0] } ?? [])
    }

    /// Calls the endpoint, retrying retryable failures while `timeBudgetMilliseconds` allows.
    /// The budget covers every attempt and every backoff: the call never outlives it.
    public func invokeEndpoint(
        _ request: InvokeEndpointRequest,
        timeBudgetMilliseconds: Int,
        metrics: inout CallMetrics
    ) throws(SageMakerError) -> InvokeEndpointResponse {
        let start = MonotonicClock.nowNanoseconds()
        defer { metrics.milliseconds = MonotonicClock.millisecondsSince(start) }
        let remaining = { Int(Double(timeBudgetMilliseconds) - MonotonicClock.millisecondsSince(start)) }

        let path = "\(basePath)/endpoints/\(request.endpointName)/invocations"
        let payloadHash = Digest.hex(Digest.sha256(request.body))
        var attempt = 0
        while true {
            attempt += 1
            metrics.attempts = attempt
            let budget = remaining()
            guard budget > 0 else { throw .timedOut(afterMilliseconds: timeBudgetMilliseconds) }

            let httpRequest = signedRequest(request, path: path, payloadHash: payloadHash, timeoutMilliseconds: budget)
            let failure: SageMakerError
            do {
                let response = try http.send(httpRequest)
                if (200..<300).contains(response.status) {
                    return InvokeEndpointResponse(body: response.body, contentType: response.header("Content-Type"), attempts: attempt)
                }
                failure = SageMakerError.from(status: response.status, headers: response.headers, body: response.body, secrets: secrets)
            } catch .timedOut {
                // The request was sent: the model may still be working on it, so it is not sent again.
                throw .timedOut(afterMilliseconds: timeBudgetMilliseconds)
            } catch .responseTooLarge(let limit) {
                throw .answerTooLarge(limit: limit)
            } catch {
                failure = .transport(error)
            }

            guard failure.isRetryable, attempt < configuration.maxAttempts else { throw failure }
            let backoff = backoffMilliseconds(retry: attempt)
            // Waiting only to run out of time would turn a clear error into a vague timeout.
            guard backoff + 50 < remaining() else { throw failure }
            sleepMilliseconds(backoff)
        }
    }

    private func signedRequest(
        _ request: InvokeEndpointRequest, path: String, payloadHash: String, timeoutMilliseconds: Int
    ) -> HTTPRequest {
        var headers: [SigV4Signer.Header] = [("Host", authority), ("Content-Type", request.contentType)]
        for header in request.optionalHeaders where header.name != "X-Amzn-Trace-Id" {
            if let value = header.value { headers.append((header.name, value)) }
        }
        headers += signer.signatureHeaders(
            method: "POST", path: path, headers: headers, payloadHash: payloadHash, time: .now())
        var httpHeaders = headers.map { HTTPHeader(name: $0.name, value: $0.value) }
        // Like botocore, leave the trace header unsigned: X-Ray may rewrite it on the way. It is
        // only a correlation hint, so one that could not be sent is dropped, not the call.
        if let traceID = request.traceID {
            let trace = HTTPHeader(name: "X-Amzn-Trace-Id", value: traceID)
            if trace.isSafeToSend { httpHeaders.append(trace) }
        }

        return HTTPRequest(
            method: .post,
            url: "\(scheme)://\(authority)\(path)",
            headers: httpHeaders,
            body: request.body,
            connectTimeoutMilliseconds: min(configuration.connectTimeoutMilliseconds, timeoutMilliseconds),
            totalTimeoutMilliseconds: timeoutMilliseconds,
            maximumResponseBytes: configuration.maximumAnswerBytes)
    }

    private func backoffMilliseconds(retry: Int) -> Int {
        let ceiling = min(configuration.maxBackoffMilliseconds, configuration.baseBackoffMilliseconds << min(retry - 1, 20))
        return ceiling > 0 ? Int.random(in: 0...ceiling) : 0
    }

    private func sleepMilliseconds(_ milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// `scheme://authority/path`, just enough parsing for an endpoint URL.
struct BaseURL {
    var scheme: String
    var authority: String
    var path: String

    init?(_ text: String) {
        let parts = text.split(separator: "://", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        scheme = parts[0].lowercased()
        guard scheme == "https" || scheme == "http" else { return nil }
        let rest = parts[1]
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        authority = String(rest[..<slash])
        guard !authority.isEmpty, !authority.contains("@"), !authority.contains("?"), !authority.contains("#") else { return nil }
        var path = String(rest[slash...])
        while path.hasSuffix("/") { path.removeLast() }
        guard !path.contains("?"), !path.contains("#") else { return nil }
        self.path = path
    }
}
