import JSON

/// What invoked the function: an HTTP front (API Gateway, a function URL, an ALB) or a direct call.
public enum LambdaEvent: Sendable, Equatable {
    case http(HTTPEvent)
    /// The Lambda console's Test tab, a non-proxy integration, the SDK's `Invoke`: the event is the payload.
    case direct(JSONValue)

    /// Reads the envelope leniently (any map may be missing or `null`, `isBase64Encoded` may be
    /// missing), so no real event is misread as a direct payload, and no payload as an HTTP event:
    /// each shape is recognised by fields a payload never has.
    ///
    /// - REST API (v1): `httpMethod` at the top and in `requestContext`;
    /// - HTTP API (v2) and function URLs: `version` "2.0" and `requestContext.http.method`;
    /// - ALB: `httpMethod` at the top and `requestContext.elb`.
    public static func classify(_ event: JSONValue) -> LambdaEvent {
        guard case .object(let object) = event, let context = object["requestContext"]?.objectValue else {
            return .direct(event)
        }
        if object["version"]?.stringValue == "2.0", let method = context["http"]?["method"]?.stringValue {
            return .http(HTTPEvent(kind: .httpAPI, method: method, envelope: object, context: context))
        }
        guard let method = object["httpMethod"]?.stringValue else { return .direct(event) }
        if context["elb"]?.objectValue != nil {
            return .http(HTTPEvent(kind: .applicationLoadBalancer, method: method, envelope: object, context: context))
        }
        if context["httpMethod"]?.stringValue != nil {
            return .http(HTTPEvent(kind: .restAPI, method: method, envelope: object, context: context))
        }
        return .direct(event)
    }
}

/// An HTTP request delivered as a Lambda event, reduced to what the function needs.
public struct HTTPEvent: Sendable, Equatable {
    public enum Kind: String, Sendable {
        /// API Gateway REST API, proxy integration (payload format 1.0).
        case restAPI = "rest-v1"
        /// API Gateway HTTP API (payload format 2.0) or a Lambda function URL.
        case httpAPI = "http-v2"
        case applicationLoadBalancer = "alb"
    }

    public var kind: Kind
    public var method: String
    public var path: String
    /// Lower-cased names. A header the request carries more than once, or under several
    /// spellings (`Content-Type` and `content-type`), has its values joined with ", " as HTTP
    /// combines repeated fields: spellings in byte order (upper case first), each spelling's
    /// values in the order they came. Every process reads the same request the same way.
    public var headers: [String: String]
    /// The request came with `multiValueHeaders`, so an ALB expects them in the answer too.
    public var usesMultiValueHeaders: Bool
    public var body: String?
    public var isBase64Encoded: Bool
    /// API Gateway's or the ALB trace's id for this request, for following it downstream.
    public var requestID: String?

    public init(
        kind: Kind, method: String, path: String = "/", headers: [String: String] = [:],
        usesMultiValueHeaders: Bool = false, body: String? = nil, isBase64Encoded: Bool = false, requestID: String? = nil
    ) {
        self.kind = kind
        self.method = method
        self.path = path
        self.headers = headers
        self.usesMultiValueHeaders = usesMultiValueHeaders
        self.body = body
        self.isBase64Encoded = isBase64Encoded
        self.requestID = requestID
    }

    init(kind: Kind, method: String, envelope: [JSONKey: JSONValue], context: [JSONKey: JSONValue]) {
        // REST APIs send both maps with the same content, an ALB one of them: the multi-value
        // one, which loses nothing, wins for every name it has.
        var headers: [String: String] = [:]
        var usesMultiValueHeaders = false
        if case .object(let multi)? = envelope["multiValueHeaders"] {
            usesMultiValueHeaders = true
            headers = Self.combined(multi) { value in
                guard case .array(let list) = value else { return [] }
                return list.compactMap(\.stringValue)
            }
        }
        if case .object(let single)? = envelope["headers"] {
            for (name, value) in Self.combined(single, values: { $0.stringValue.map { [$0] } ?? [] }) where headers[name] == nil {
                headers[name] = value
            }
        }
        let path = envelope["rawPath"]?.stringValue ?? envelope["path"]?.stringValue ?? context["http"]?["path"]?.stringValue ?? "/"
        var isBase64Encoded = false
        if case .bool(let flag)? = envelope["isBase64Encoded"] { isBase64Encoded = flag }
        self.init(
            kind: kind,
            method: method.uppercased(),
            path: path,
            headers: headers,
            usesMultiValueHeaders: usesMultiValueHeaders,
            body: envelope["body"]?.stringValue,
            isBase64Encoded: isBase64Encoded,
            requestID: context["requestId"]?.stringValue ?? headers["x-amzn-trace-id"])
    }

    /// Header maps as the fronts send them, lower-cased and combined (see `headers`). Dictionary
    /// order differs from process to process, so names are taken in sorted order.
    private static func combined(_ map: [JSONKey: JSONValue], values: (JSONValue) -> [String]) -> [String: String] {
        var headers: [String: String] = [:]
        for name in map.keys.sorted() {
            let list = values(map[name]!)
            guard !list.isEmpty else { continue }
            let key = name.text.lowercased()
            let joined = list.joined(separator: ", ")
            headers[key] = headers[key].map { "\($0), \(joined)" } ?? joined
        }
        return headers
    }

    /// The body's bytes: base64-decoded when the front encoded it.
    public func decodedBody() throws(HTTPEventError) -> [UInt8] {
        guard var body else { return [] }
        guard isBase64Encoded else { return Array(body.utf8) }
        // Fronts send standard base64 with padding; tolerate line breaks some clients add.
        let decoded = body.withUTF8 { utf8 in
            let isLineBreak = { (byte: UInt8) in byte == 0x0A || byte == 0x0D }
            guard utf8.contains(where: isLineBreak) else { return Base64.decode(utf8) }
            return utf8.filter { !isLineBreak($0) }.withUnsafeBufferPointer(Base64.decode)
        }
        guard let decoded else { throw .invalidBase64 }
        return decoded
    }

    /// `Content-Type` split into its media type (lower-cased) and parameters.
    public var mediaType: String? {
        guard let value = headers["content-type"] else { return nil }
        let type = value.split(separator: ";", maxSplits: 1).first.map(String.init) ?? value
        let trimmed = type.filter { $0 != " " && $0 != "\t" }.lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }
}

public enum HTTPEventError: Error, Equatable {
    case invalidBase64
}
