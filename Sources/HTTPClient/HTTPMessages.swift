#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

public struct HTTPHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
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
    public var body: Data
    public var connectTimeoutMilliseconds: Int
    /// `nil` means no limit, which only the Runtime API's long poll for the next event should use.
    public var totalTimeoutMilliseconds: Int?

    public init(
        method: HTTPMethod,
        url: String,
        headers: [HTTPHeader] = [],
        body: Data = Data(),
        connectTimeoutMilliseconds: Int = 3_000,
        totalTimeoutMilliseconds: Int?
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
        self.totalTimeoutMilliseconds = totalTimeoutMilliseconds
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [HTTPHeader]
    public var body: Data

    public init(status: Int, headers: [HTTPHeader], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of the header called `name`, compared case-insensitively as HTTP requires.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }
}

public enum HTTPClientError: Error, Equatable, CustomStringConvertible {
    case initializationFailed
    case invalidURL(String)
    case couldNotConnect(String)
    case timedOut(String)
    case tlsFailure(String)
    case sendFailed(String)
    case receiveFailed(String)
    case other(code: Int, detail: String)

    public var description: String {
        switch self {
        case .initializationFailed: "could not create a libcurl handle"
        case .invalidURL(let url): "invalid URL \(url)"
        case .couldNotConnect(let detail): "could not connect: \(detail)"
        case .timedOut(let detail): "timed out: \(detail)"
        case .tlsFailure(let detail): "TLS failure: \(detail)"
        case .sendFailed(let detail): "failed to send the request: \(detail)"
        case .receiveFailed(let detail): "failed to receive the response: \(detail)"
        case .other(let code, let detail): "libcurl error \(code): \(detail)"
        }
    }

    /// Errors where the request may never have reached the server's application code.
    public var isConnectionFailure: Bool {
        switch self {
        case .couldNotConnect, .sendFailed, .receiveFailed: true
        default: false
        }
    }
}

extension String {
    /// Field names are ASCII tokens: compared byte by byte, nothing lower-cased into a new string.
    func caseInsensitiveEquals(_ other: String) -> Bool {
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
    /// Without spaces, tabs, CR and LF at either end (FoundationEssentials has no CharacterSet trimming).
    public func trimmingHTTPWhitespace() -> String {
        let isWhitespace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" || $0 == "\r\n" }
        guard let first = firstIndex(where: { !isWhitespace($0) }) else { return "" }
        let last = lastIndex(where: { !isWhitespace($0) })!
        return String(self[first...last])
    }
}
