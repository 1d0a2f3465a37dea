import CCurl
import HTTP

/// A blocking HTTP/1.1 client over one libcurl easy handle.
///
/// The handle lives as long as the client, so libcurl's connection cache keeps the TCP (and TLS)
/// connection open between requests: a warm Lambda invocation pays no connect or handshake.
/// A connection the server closed while the process was frozen is detected by libcurl on reuse
/// and replaced with a fresh one.
///
/// Not thread-safe: each client belongs to the one thread that uses it.
public final class CurlHTTPClient {
    public struct Configuration: Sendable {
        /// CA bundle for TLS peer verification; `nil` keeps libcurl's built-in default.
        public var caBundlePath: String?
        /// `false` ignores `http_proxy` and friends. The Lambda Runtime API must never go through a proxy.
        public var honorsProxyEnvironment: Bool

        public init(caBundlePath: String? = nil, honorsProxyEnvironment: Bool = true) {
            self.caBundlePath = caBundlePath
            self.honorsProxyEnvironment = honorsProxyEnvironment
        }
    }

    private let handle: UnsafeMutableRawPointer
    private let configuration: Configuration
    /// libcurl writes its error text here; it must outlive every `curl_easy_perform`.
    private let errorBuffer: UnsafeMutablePointer<CChar>
    /// Reused across requests so a warm request allocates no new buffers for small responses.
    private let sink = ResponseSink()
    /// One `Name: value` line at a time for `curl_slist_append` (which copies it): no string per header.
    private var headerLine: [UInt8] = []

    public init(configuration: Configuration = .init()) throws(HTTPClientError) {
        CurlHTTPClient.initializeLibcurlOnce
        guard let handle = curl_easy_init() else { throw .initializationFailed }
        self.handle = handle
        self.configuration = configuration
        self.errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        self.errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
        setPersistentOptions()
    }

    deinit {
        curl_easy_cleanup(handle)
        errorBuffer.deallocate()
    }

    /// `curl_global_init` is not thread-safe and must run before the first handle; a lazy static
    /// gives exactly-once semantics without global mutable state of our own.
    private static let initializeLibcurlOnce: Void = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }()

    /// Sends `request` and returns the whole response. A non-2xx status is a response, not an error.
    public func send(_ request: HTTPRequest) throws(HTTPClientError) -> HTTPResponse {
        if let unsafe = request.unsafeHeader { throw .invalidHeader(name: unsafe.name) }
        sink.reset(limit: request.maximumResponseBytes)
        errorBuffer[0] = 0

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer {
            // The handle outlives this request: it must not keep pointers to what is freed here.
            _ = ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, nil)
            _ = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, nil)
            curl_slist_free_all(headerList)
        }
        for header in request.headers {
            headerLine.removeAll(keepingCapacity: true)
            headerLine.append(contentsOf: header.name.utf8)
            headerLine.append(contentsOf: ": ".utf8)
            headerLine.append(contentsOf: header.value.utf8)
            headerLine.append(0)
            headerList = headerLine.withUnsafeBufferPointer { line in
                line.withMemoryRebound(to: CChar.self) { curl_slist_append(headerList, $0.baseAddress) }
            }
        }
        // libcurl would otherwise add `Expect: 100-continue` to large POSTs and wait a round trip.
        headerList = curl_slist_append(headerList, "Expect:")
        // libcurl's defaults (`Accept: */*`, and a form content type on POST) would be sent
        // unless named here; "Name:" with no value removes a header.
        for name in ["Accept", "Content-Type"] where !request.headers.contains(where: { $0.name.caseInsensitiveEquals(name) }) {
            headerList = curl_slist_append(headerList, "\(name):")
        }

        let code: CURLcode = request.body.withUnsafeBytes { body in
            setOptions(for: request, headers: headerList, body: body)
            return curl_easy_perform(handle)
        }
        guard code == CURLE_OK else { throw error(for: code, request: request) }

        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        return HTTPResponse(status: status, headers: sink.headers, body: sink.takeBody())
    }

    /// Options every request shares, set once: libcurl keeps them on the handle. (No
    /// `curl_easy_reset` between requests: `setOptions` sets everything that varies.)
    private func setPersistentOptions() {
        _ = ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer)
        _ = ccurl_setopt_long(handle, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1))
        // Signals and multi-threaded resolvers do not mix; we never want SIGALRM from libcurl.
        _ = ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        // When a name lookup runs out of time, leave the resolver thread to finish on its own
        // instead of joining it: a DNS server that never answers would otherwise hold every
        // call for the system resolver's own timeout (10 s with glibc's defaults), whatever
        // the connect timeout and the invocation's deadline say.
        _ = ccurl_setopt_long(handle, CURLOPT_QUICK_EXIT, 1)
        _ = ccurl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        if !configuration.honorsProxyEnvironment {
            _ = ccurl_setopt_pointer(handle, CURLOPT_PROXY, "")
        }
        if let caBundlePath = configuration.caBundlePath {
            _ = ccurl_setopt_pointer(handle, CURLOPT_CAINFO, caBundlePath)
        }

        // A callback that returns less than it was given makes libcurl stop the transfer with
        // CURLE_WRITE_ERROR: that is how a body over the limit is cut off.
        let context = Unmanaged.passUnretained(sink).toOpaque()
        _ = ccurl_setopt_callback(handle, CURLOPT_WRITEFUNCTION) { data, size, count, context in
            let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
            return sink.appendBody(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = ccurl_setopt_callback(handle, CURLOPT_HEADERFUNCTION) { data, size, count, context in
            let sink = Unmanaged<ResponseSink>.fromOpaque(context!).takeUnretainedValue()
            return sink.appendHeaderLine(UnsafeRawBufferPointer(start: data, count: size * count)) ? size * count : 0
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
    }

    /// What differs from one request to the next.
    private func setOptions(
        for request: HTTPRequest,
        headers: UnsafeMutablePointer<curl_slist>?,
        body: UnsafeRawBufferPointer
    ) {
        _ = ccurl_setopt_pointer(handle, CURLOPT_URL, request.url)
        _ = ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, request.connectTimeoutMilliseconds)
        _ = ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, request.totalTimeoutMilliseconds ?? 0)
        switch request.method {
        case .get:
            // Also turns a previous request's POST back into a GET.
            _ = ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        case .post:
            _ = ccurl_setopt_long(handle, CURLOPT_POST, 1)
            // POSTFIELDS points at the caller's bytes: no copy of a multi-megabyte article.
            _ = ccurl_setopt_offset(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(body.count))
            _ = ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, body.baseAddress ?? UnsafeRawPointer(errorBuffer))
        }
        _ = ccurl_setopt_pointer(handle, CURLOPT_HTTPHEADER, headers)
    }

    private func error(for code: CURLcode, request: HTTPRequest) -> HTTPClientError {
        let detail = errorBuffer[0] != 0 ? String(cString: errorBuffer) : String(cString: curl_easy_strerror(code))
        switch code {
        case CURLE_WRITE_ERROR where sink.overflowed:
            return .responseTooLarge(limit: request.maximumResponseBytes)
        case CURLE_OPERATION_TIMEDOUT:
            // No pre-transfer time means the request never left: the time went on resolving,
            // connecting or the TLS handshake, so the server cannot have acted on it.
            var pretransfer: curl_off_t = 0
            _ = ccurl_getinfo_offset(handle, CURLINFO_PRETRANSFER_TIME_T, &pretransfer)
            return pretransfer == 0 ? .connectTimedOut(detail) : .timedOut(detail)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            return .couldNotConnect(detail)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_CRL_BADFILE, CURLE_USE_SSL_FAILED:
            return .tlsFailure(detail)
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            return .invalidURL(request.url)
        case CURLE_SEND_ERROR:
            return .sendFailed(detail)
        case CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE:
            return .receiveFailed(detail)
        default:
            return .other(code: Int(code.rawValue), detail: detail)
        }
    }
}

/// Collects a response's header lines and body from libcurl's callbacks. Works on the raw bytes:
/// this runs for every header line of every request, three requests an invocation.
final class ResponseSink {
    private(set) var headers: [HTTPHeader] = []
    private var body: [UInt8] = []
    /// The most body bytes this response may bring.
    private var limit = HTTPRequest.defaultMaximumResponseBytes
    /// Set when the body (announced or received) went past `limit`.
    private(set) var overflowed = false

    /// Bodies announced larger than this still arrive whole, just without space reserved up front.
    private static let largestReservation = 16 * 1024 * 1024

    func reset(limit: Int) {
        headers.removeAll(keepingCapacity: true)
        body = []
        self.limit = limit
        overflowed = false
    }

    /// `false` stops the transfer: the body would go past the limit.
    func appendBody(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count <= limit - body.count else {
            overflowed = true
            body = []
            return false
        }
        body.append(contentsOf: bytes.assumingMemoryBound(to: UInt8.self))
        return true
    }

    /// libcurl calls this once per header line, status line and final blank line included,
    /// and again for every response of a redirect or `100 Continue`: only the last block counts.
    /// `false` stops the transfer before the body: its announced length is over the limit.
    func appendHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool {
        if line.starts(with: "HTTP/".utf8) {
            headers.removeAll(keepingCapacity: true)
            return true
        }
        guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return true }
        func isWhitespace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }
        var start = colon + 1
        var end = line.count
        while start < end, isWhitespace(line[start]) { start += 1 }
        while end > start, isWhitespace(line[end - 1]) { end -= 1 }
        let header = HTTPHeader(
            name: String(decoding: UnsafeRawBufferPointer(rebasing: line[..<colon]), as: UTF8.self),
            value: String(decoding: UnsafeRawBufferPointer(rebasing: line[start..<end]), as: UTF8.self))
        if header.name.caseInsensitiveEquals("Content-Length"), let length = Int(header.value), length > 0 {
            guard length <= limit else {
                overflowed = true
                return false
            }
            // Room for the whole body at once: growing by doubling would hold up to twice a large body.
            if length <= Self.largestReservation { body.reserveCapacity(length) }
        }
        headers.append(header)
        return true
    }

    /// Hands the body over without copying it.
    func takeBody() -> [UInt8] {
        defer { body = [] }
        return body
    }
}
