import JSON
import LambdaEvents
import LambdaRuntime

/// HTTP semantics for requests arriving through API Gateway, a function URL or an ALB:
/// methods, content types, body decoding, CORS, and errors as JSON documents.
struct HTTPFront {
    static let allowedMethods = "OPTIONS, POST"
    /// The most an error's `message` takes in a body once escaped; a longer one is cut.
    static let maximumMessageBytes = 1024

    var cors: CORSPolicy

    /// The payload the request carries, or why there is none.
    func payload(of event: HTTPEvent) throws(Failure) -> SummarizeRequest {
        guard event.method == "POST" else { throw .methodNotAllowed(method: event.method) }
        let format = try bodyFormat(event)
        let body: [UInt8]
        do {
            body = try event.decodedBody()
        } catch {
            throw .invalidBase64
        }
        guard body.count <= Failure.maximumRequestBytes else { throw .payloadTooLarge(bytes: body.count) }

        switch format {
        case .json:
            do {
                return try SummarizeRequest.decode(json: body)
            } catch {
                throw .invalidPayload(error)
            }
        case .form where Self.isJSONObject(body):
            do {
                return try SummarizeRequest.decode(json: body)
            } catch {
                throw .invalidPayload(error)
            }
        case .text, .form:
            // Validated, not decoded: `String(decoding:)` would put U+FFFD in place of bad bytes.
            guard let text = String(validating: body, as: UTF8.self) else { throw .invalidText("the body is not valid UTF-8 text") }
            guard !SummarizeRequest.isBlank(text) else { throw .invalidText("the body is empty: send the article text to summarise") }
            return SummarizeRequest(inputs: .single(text))
        }
    }

    enum BodyFormat {
        case json
        case text
        /// `application/x-www-form-urlencoded`: what `curl -d` labels anything it sends.
        case form
    }

    /// JSON for JSON media types, the raw article for `text/plain`. `curl -d` labels whatever it
    /// sends as a form: a JSON object (`curl -d '{"inputs": ...}'`) is read as JSON, anything
    /// else (`curl -d @article.txt`) as the article. Without a `Content-Type`, a body that starts
    /// like JSON is JSON.
    private func bodyFormat(_ event: HTTPEvent) throws(Failure) -> BodyFormat {
        guard let mediaType = event.mediaType else {
            let first = event.body?.utf8.first(where: { $0 != 32 && $0 != 9 && $0 != 10 && $0 != 13 })
            return first == UInt8(ascii: "{") || first == UInt8(ascii: "[") || event.isBase64Encoded ? .json : .text
        }
        if let charset = Self.charset(event.headers["content-type"] ?? ""), charset != "utf-8", charset != "utf8", charset != "us-ascii" {
            throw .unsupportedCharset(charset)
        }
        switch mediaType {
        case "application/json", "text/json":
            return .json
        case _ where mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json"):
            return .json
        case "text/plain":
            return .text
        case "application/x-www-form-urlencoded":
            return .form
        default:
            throw .unsupportedMediaType(mediaType)
        }
    }

    /// Whether `body` is one JSON object (an article that merely starts with a brace is not).
    private static func isJSONObject(_ body: [UInt8]) -> Bool {
        guard body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{") else { return false }
        return (try? JSONValue.validate(body)) != nil
    }

    private static func charset(_ contentType: String) -> String? {
        for parameter in contentType.split(separator: ";").dropFirst() {
            let parts = parameter.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingSpaces().lowercased() == "charset" else { continue }
            return parts[1].trimmingSpaces().lowercased().filter { $0 != "\"" }
        }
        return nil
    }

    /// 204 with `Allow`, and the CORS preflight headers when the origin is allowed.
    func preflight(_ event: HTTPEvent) -> HTTPEventResponse {
        var headers: [HTTPEventResponse.Header] = [.init("Allow", Self.allowedMethods)]
        headers += cors.preflightHeaders(origin: event.headers["origin"], requestedHeaders: event.headers["access-control-request-headers"])
        return HTTPEventResponse(status: 204, headers: headers)
    }

    func success(_ modelAnswer: [UInt8], for event: HTTPEvent) -> HTTPEventResponse {
        HTTPEventResponse(
            status: 200,
            headers: [.init("Content-Type", "application/json")] + cors.responseHeaders(origin: event.headers["origin"]),
            body: String(decoding: modelAnswer, as: UTF8.self))
    }

    /// `{"error": {"type": …, "message": …}, "requestId": …}`: the Lambda request id lets a caller
    /// quote the failure and an operator find it in the logs.
    func failure(_ failure: Failure, requestID: String, for event: HTTPEvent) -> HTTPEventResponse {
        var error: [JSONKey: JSONValue] = [
            "type": .string(failure.type), "message": .string(failure.message(for: .caller).cappedForJSON(Self.maximumMessageBytes)),
        ]
        if let modelStatusCode = failure.modelStatusCode { error["modelStatusCode"] = .int(modelStatusCode) }
        let document = JSONValue.object(["error": .object(error), "requestId": .string(requestID)])
        let body = String(decoding: document.serialized(), as: UTF8.self)
        return HTTPEventResponse(
            status: failure.status,
            headers: [.init("Content-Type", "application/json")] + failure.headers + cors.responseHeaders(origin: event.headers["origin"]),
            body: body)
    }
}

/// Which browser origins may call the API (`CORS_ALLOWED_ORIGINS`: a comma-separated list, or `*`).
/// Empty means CORS is off: no CORS headers at all.
public struct CORSPolicy: Sendable, Equatable {
    public var allowedOrigins: [String]

    public init(allowedOrigins: [String] = []) {
        self.allowedOrigins = allowedOrigins
    }

    public init(configuration: String?) {
        allowedOrigins = (configuration ?? "").split(separator: ",").map { $0.trimmingSpaces() }.filter { !$0.isEmpty }
    }

    static let allowedRequestHeaders = "content-type, authorization, x-api-key, x-amz-date, x-amz-security-token"

    /// The value of `Access-Control-Allow-Origin` for `origin`, if it is allowed.
    func allowOrigin(_ origin: String?) -> String? {
        if allowedOrigins.contains("*") { return "*" }
        guard let origin, allowedOrigins.contains(origin) else { return nil }
        return origin
    }

    func responseHeaders(origin: String?) -> [HTTPEventResponse.Header] {
        guard !allowedOrigins.isEmpty else { return [] }
        guard let allowed = allowOrigin(origin) else { return [.init("Vary", "Origin")] }
        var headers: [HTTPEventResponse.Header] = [.init("Access-Control-Allow-Origin", allowed)]
        if allowed != "*" { headers.append(.init("Vary", "Origin")) }
        return headers
    }

    func preflightHeaders(origin: String?, requestedHeaders: String?) -> [HTTPEventResponse.Header] {
        guard allowOrigin(origin) != nil else { return responseHeaders(origin: origin) }
        return responseHeaders(origin: origin) + [
            .init("Access-Control-Allow-Methods", HTTPFront.allowedMethods),
            .init("Access-Control-Allow-Headers", Self.allowedRequestHeaders),
            .init("Access-Control-Max-Age", "600"),
        ]
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
