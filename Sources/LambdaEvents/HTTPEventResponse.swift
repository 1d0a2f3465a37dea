#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// An HTTP answer, encoded in the shape the front that sent the request expects.
public struct HTTPEventResponse: Sendable, Equatable {
    public var status: Int
    /// In order; names as they should appear.
    public var headers: [Header]
    public var body: String

    public struct Header: Sendable, Equatable {
        public var name: String
        public var value: String

        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    public init(status: Int, headers: [Header] = [], body: String = "") {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The Lambda response document for `request`'s front:
    /// - REST API: `statusCode`, `headers`, `multiValueHeaders`, `body`, `isBase64Encoded`;
    /// - HTTP API / function URL: `statusCode`, `headers`, `cookies`, `body`, `isBase64Encoded`;
    /// - ALB: also `statusDescription`, and `multiValueHeaders` instead of `headers` when the
    ///   target group has them on (the request used them), since the ALB then reads only those.
    public func encoded(for request: HTTPEvent) -> Data {
        let single = Dictionary(headers.map { ($0.name, $0.value) }, uniquingKeysWith: { first, second in "\(first), \(second)" })
        var multi: [String: [String]] = [:]
        for header in headers { multi[header.name, default: []].append(header.value) }

        let document: Document
        switch request.kind {
        case .restAPI:
            document = Document(statusCode: status, headers: single, multiValueHeaders: multi, body: body)
        case .httpAPI:
            document = Document(statusCode: status, headers: single, cookies: [], body: body)
        case .applicationLoadBalancer:
            document = request.usesMultiValueHeaders
                ? Document(statusCode: status, statusDescription: Self.statusLine(status), multiValueHeaders: multi, body: body)
                : Document(statusCode: status, statusDescription: Self.statusLine(status), headers: single, body: body)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes, .sortedKeys]
        return (try? encoder.encode(document)) ?? Data()
    }

    private struct Document: Encodable {
        var statusCode: Int
        var statusDescription: String? = nil
        var headers: [String: String]? = nil
        var multiValueHeaders: [String: [String]]? = nil
        var cookies: [String]? = nil
        var body: String
        var isBase64Encoded = false
    }

    /// `200 OK`, as an ALB wants `statusDescription`.
    static func statusLine(_ status: Int) -> String {
        let reasons: [Int: String] = [
            200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed", 413: "Payload Too Large", 415: "Unsupported Media Type",
            429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
            503: "Service Unavailable", 504: "Gateway Timeout",
        ]
        return "\(status) \(reasons[status] ?? "Unknown")"
    }
}
