import JSON

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
    public func encoded(for request: HTTPEvent) -> [UInt8] {
        var single: [JSONKey: JSONValue] = [:]
        var multi: [JSONKey: [JSONValue]] = [:]
        for header in headers {
            let name = JSONKey(header.name)
            if case .string(let first)? = single[name] {
                single[name] = .string("\(first), \(header.value)")
            } else {
                single[name] = .string(header.value)
            }
            multi[name, default: []].append(.string(header.value))
        }
        let multiValueHeaders = JSONValue.object(multi.mapValues(JSONValue.array))

        var document: [JSONKey: JSONValue] = [
            "statusCode": .int(status), "body": .string(body), "isBase64Encoded": .bool(false),
        ]
        switch request.kind {
        case .restAPI:
            document["headers"] = .object(single)
            document["multiValueHeaders"] = multiValueHeaders
        case .httpAPI:
            document["headers"] = .object(single)
            document["cookies"] = .array([])
        case .applicationLoadBalancer:
            document["statusDescription"] = .string(Self.statusLine(status))
            if request.usesMultiValueHeaders {
                document["multiValueHeaders"] = multiValueHeaders
            } else {
                document["headers"] = .object(single)
            }
        }
        return JSONValue.object(document).serialized()
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
