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
    var limits: RequestLimits = .default

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
                return try SummarizeRequest.decode(json: body, limits: limits)
            } catch {
                throw .invalidPayload(error)
            }
        case .form, .unlabelled:
            // One rule for every front: a JSON object is the payload, whatever the label.
            if let object = Self.jsonObject(body) {
                do {
                    return try SummarizeRequest.from(object, document: body, limits: limits)
                } catch {
                    throw .invalidPayload(error)
                }
            }
            if format == .form, let fields = FormFields(body) { return try formPayload(fields) }
            return try textPayload(body)
        case .text:
            return try textPayload(body)
        }
    }

    private func textPayload(_ body: [UInt8]) throws(Failure) -> SummarizeRequest {
        // Validated, not decoded: `String(decoding:)` would put U+FFFD in place of bad bytes.
        guard let text = String(validating: body, as: UTF8.self) else { throw .invalidText("the body is not valid UTF-8 text") }
        guard !SummarizeRequest.isBlank(text) else { throw .invalidText("the body is empty: send the article text to summarise") }
        return SummarizeRequest(inputs: .single(text))
    }

    /// An HTML form: `inputs` is the article, several `inputs` a list of articles.
    private func formPayload(_ fields: FormFields) throws(Failure) -> SummarizeRequest {
        var articles: [JSONValue] = []
        for (name, value) in fields.pairs {
            guard let name = String(validating: name, as: UTF8.self), let value = String(validating: value, as: UTF8.self) else {
                throw .invalidText("the form is not valid UTF-8 once percent-decoded")
            }
            guard !name.isEmpty else { throw .invalidText("the form has a field without a name: send the article as inputs=...") }
            guard name == "inputs" else {
                throw .invalidPayload(PayloadError(field: name, "is not a known form field; a form sends the article as \"inputs\""))
            }
            articles.append(.string(value))
        }
        guard !articles.isEmpty else {
            throw .invalidPayload(PayloadError(field: "inputs", "is required: send the article as the form field \"inputs\""))
        }
        do {
            return try SummarizeRequest.from(.object(["inputs": articles.count == 1 ? articles[0] : .array(articles)]), limits: limits)
        } catch {
            throw .invalidPayload(error)
        }
    }

    enum BodyFormat {
        case json
        case text
        /// `application/x-www-form-urlencoded`: an HTML form's, and what `curl -d` labels anything it sends.
        case form
        /// No `Content-Type` (the API Gateway console, some clients).
        case unlabelled
    }

    /// JSON for JSON media types, the raw article for `text/plain`. A form or an unlabelled body
    /// that is a JSON object (`curl -d '{"inputs": ...}'`) is JSON; a form (`inputs=...`) is
    /// decoded; anything else (`curl -d @article.txt`) is the article.
    private func bodyFormat(_ event: HTTPEvent) throws(Failure) -> BodyFormat {
        guard let mediaType = event.mediaType else { return .unlabelled }
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

    /// `body` parsed, when it is one JSON object (an article that merely starts with a brace is not).
    private static func jsonObject(_ body: [UInt8]) -> JSONValue? {
        guard body.first(where: { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) == UInt8(ascii: "{"),
              let value = try? JSONValue(parsing: body), case .object = value else { return nil }
        return value
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

    /// `{"error": "…", "error_type": "…", "requestId": "…"}`, the Hugging Face Inference API's
    /// shape, which its clients read the message from; the Lambda request id lets a caller quote
    /// the failure and an operator find it in the logs.
    func failure(_ failure: Failure, requestID: String, for event: HTTPEvent) -> HTTPEventResponse {
        var fields: [JSONKey: JSONValue] = [
            "error": .string(failure.message(for: .caller).cappedForJSON(Self.maximumMessageBytes)),
            "error_type": .string(failure.type),
            "requestId": .string(requestID),
        ]
        if let modelStatusCode = failure.modelStatusCode { fields["modelStatusCode"] = .int(modelStatusCode) }
        if let seconds = failure.estimatedSeconds { fields["estimated_time"] = .double(Double(seconds)) }
        let document = JSONValue.object(fields)
        let body = String(decoding: document.serialized(), as: UTF8.self)
        return HTTPEventResponse(
            status: failure.status,
            headers: [.init("Content-Type", "application/json")] + failure.headers + cors.responseHeaders(origin: event.headers["origin"]),
            body: body)
    }
}

/// An `application/x-www-form-urlencoded` body, decoded as browsers encode it (WHATWG URL):
/// `name=value` pairs joined by `&`, `+` for a space, `%XX` for a byte, a `%` without two hex
/// digits kept as it is. A body with a byte a form never has unencoded (a space, a line break
/// other than a final one a file may end with, a control character), or without any `=`, is not
/// a form but an article `curl -d` labelled one.
struct FormFields {
    var pairs: [(name: [UInt8], value: [UInt8])] = []

    init?(_ whole: [UInt8]) {
        let body = whole[..<(whole.lastIndex { $0 != 0x0A && $0 != 0x0D }.map { $0 + 1 } ?? 0)]
        guard body.contains(UInt8(ascii: "=")), !body.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return nil }
        for part in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let equals = part.firstIndex(of: UInt8(ascii: "=")) ?? part.endIndex
            let value = equals < part.endIndex ? part[part.index(after: equals)...] : []
            pairs.append((Self.percentDecoded(part[..<equals]), Self.percentDecoded(value)))
        }
    }

    private static func percentDecoded(_ bytes: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                output.append(0x20)
            } else if byte == UInt8(ascii: "%"), index + 2 < bytes.endIndex,
                      let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) {
                output.append(high << 4 | low)
                index += 2
            } else {
                output.append(byte)
            }
            index += 1
        }
        return output
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
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
