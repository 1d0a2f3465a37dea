public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Whether the header can be written as one field line: a CR or LF would end it and start
    /// another header (or the body), a NUL would cut it short in C. Both clients refuse a request
    /// with such a header rather than send it, whoever built it.
    public var isSafeToSend: Bool {
        !name.isEmpty && !name.utf8.contains(where: Self.isUnsafe) && !value.utf8.contains(where: Self.isUnsafe)
    }

    private static func isUnsafe(_ byte: UInt8) -> Bool {
        byte == 0x0D || byte == 0x0A || byte == 0x00
    }
}

public enum HTTPMethod: String, Sendable {
    case get = "GET"
    case post = "POST"
}

public struct HTTPRequest: Sendable {
    public var method: HTTPMethod
    public var url: String
    public var headers: [HTTPHeader]
    public var body: [UInt8]
    public var connectTimeoutMilliseconds: Int
    /// `nil` means no limit, which only the Runtime API's long poll for the next event should use.
    public var totalTimeoutMilliseconds: Int?
    /// A longer response body is cut off and reported as `responseTooLarge`, so a hostile or
    /// broken server cannot make the process hold more than this.
    public var maximumResponseBytes: Int

    public init(
        method: HTTPMethod,
        url: String,
        headers: [HTTPHeader] = [],
        body: [UInt8] = [],
        connectTimeoutMilliseconds: Int = 3_000,
        totalTimeoutMilliseconds: Int?,
        maximumResponseBytes: Int = HTTPRequest.defaultMaximumResponseBytes
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.totalTimeoutMilliseconds = totalTimeoutMilliseconds
        self.maximumResponseBytes = maximumResponseBytes
    }

    public static let defaultMaximumResponseBytes = 64 * 1024 * 1024

    /// The first header that could not be sent as one field line, if any.
    package var unsafeHeader: HTTPHeader? {
        headers.first { !$0.isSafeToSend }
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of the header called `name`, compared case-insensitively as HTTP requires.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}

public enum HTTPClientError: Error, Equatable, Sendable, CustomStringConvertible {
    case initializationFailed
    case invalidURL(String)
    /// A header name or value with CR, LF or NUL: refused before anything was sent.
    case invalidHeader(name: String)
    case couldNotConnect(String)
    /// The time ran out before the request could be sent: resolving the name, connecting, or
    /// the TLS handshake. The server never saw the request.
    case connectTimedOut(String)
    /// The time ran out after the request was sent, waiting for (or reading) the answer.
    case timedOut(String)
    /// The response body went past the request's `maximumResponseBytes`; the rest was not read.
    case responseTooLarge(limit: Int)
    case tlsFailure(String)
    case sendFailed(String)
    case receiveFailed(String)
    case other(code: Int, detail: String)

    public var description: String {
        switch self {
        case .initializationFailed: "could not create a libcurl handle"
        case .invalidURL(let url): "invalid URL \(url)"
        case .invalidHeader(let name): "refused to send header \(Self.printable(name)): it contains CR, LF or NUL"
        case .couldNotConnect(let detail): "could not connect: \(detail)"
        case .connectTimedOut(let detail): "timed out connecting: \(detail)"
        case .timedOut(let detail): "timed out: \(detail)"
        case .responseTooLarge(let limit): "the response body is over the \(limit)-byte limit"
        case .tlsFailure(let detail): "TLS failure: \(detail)"
        case .sendFailed(let detail): "failed to send the request: \(detail)"
        case .receiveFailed(let detail): "failed to receive the response: \(detail)"
        case .other(let code, let detail): "libcurl error \(code): \(detail)"
        }
    }

    /// Errors where the request may never have reached the server's application code.
    public var isConnectionFailure: Bool {
        switch self {
        case .couldNotConnect, .connectTimedOut, .sendFailed, .receiveFailed: true
        default: false
        }
    }

    /// A header name as it can appear in a message: control characters shown as `?`.
    private static func printable(_ name: String) -> String {
        String(decoding: name.utf8.prefix(64).map { $0 < 0x20 || $0 == 0x7F ? UInt8(ascii: "?") : $0 }, as: UTF8.self)
    }
}

extension String {
    /// Field names are ASCII tokens: compared byte by byte, nothing lower-cased into a new string.
    package func caseInsensitiveEquals(_ other: String) -> Bool {
        func lowered(_ byte: UInt8) -> UInt8 { byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte }
        guard utf8.count == other.utf8.count else { return false }
        let equal = utf8.withContiguousStorageIfAvailable { a in
            other.utf8.withContiguousStorageIfAvailable { b in
                (0..<a.count).allSatisfy { lowered(a[$0]) == lowered(b[$0]) }
            }
        }
        return (equal ?? nil) ?? (lowercased() == other.lowercased())
    }
}

extension StringProtocol {
    /// Without spaces, tabs, CR and LF at either end (no Foundation here, so no CharacterSet trimming).
    public func trimmingHTTPWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let last = lastIndex(where: { !isWhitespace($0) })!
        return String(self[first...last])
    }
}
