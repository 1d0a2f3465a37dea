import JSON
import LambdaEvents

/// The payload a caller sends and the model receives:
/// `{"inputs": "article" | ["article", …], "parameters": {…}}`, the Hugging Face inference format.
public struct SummarizeRequest: Sendable, Equatable {
    public enum Inputs: Sendable, Equatable {
        case single(String)
        case batch([String])

        public var count: Int {
            switch self {
            case .single: 1
            case .batch(let articles): articles.count
            }
        }

    }

    public var inputs: Inputs
    public var parameters: GenerationParameters?
    /// The JSON this request was decoded from, when it says exactly what `jsonValue` says: the
    /// model then gets those bytes, not a second copy of every article written out again.
    private var document: [UInt8]?

    public init(inputs: Inputs, parameters: GenerationParameters? = nil) {
        self.inputs = inputs
        self.parameters = parameters
    }

    /// Two requests are equal when they ask the same, however their JSON was spelled.
    public static func == (lhs: SummarizeRequest, rhs: SummarizeRequest) -> Bool {
        lhs.inputs == rhs.inputs && lhs.parameters == rhs.parameters
    }

    /// The body of the model call.
    public var body: [UInt8] {
        document ?? jsonValue.serialized()
    }

    /// What is sent to the endpoint: the checked payload, nothing else of the event.
    public var jsonValue: JSONValue {
        var object: [JSONKey: JSONValue] = [:]
        switch inputs {
        case .single(let text): object["inputs"] = .string(text)
        case .batch(let texts): object["inputs"] = .array(texts.map(JSONValue.string))
        }
        if let parameters { object["parameters"] = .object(parameters.values) }
        return .object(object)
    }

    /// The fields a payload may have. Anything else is rejected, so a typo (`input`,
    /// `paramters`) is reported instead of silently ignored. `options` is what Hugging Face
    /// Inference API clients send (`wait_for_model`, `use_cache`) and `stream` what
    /// huggingface_hub's `text_generation()` sends; the SageMaker container ignores both, so they
    /// are checked and not sent on.
    static let fields: Set<String> = ["inputs", "parameters", "options", "stream"]

    /// Decodes and checks a JSON payload against the parameter table and `limits`. Every problem
    /// is reported with the field it concerns.
    public static func decode(json: [UInt8], limits: RequestLimits = .default) throws(PayloadError) -> SummarizeRequest {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: json)
        } catch {
            throw PayloadError.notJSON(error)
        }
        return try from(value, document: json, limits: limits)
    }

    /// `document`, when given, is the JSON `value` was parsed from.
    public static func from(
        _ value: JSONValue, document: [UInt8]? = nil, limits: RequestLimits = .default
    ) throws(PayloadError) -> SummarizeRequest {
        guard case .object(let object) = value else {
            throw PayloadError(field: nil, "the payload must be a JSON object like {\"inputs\": \"article text\"}, got \(value.typeName)")
        }
        if object.keys.contains(where: { !fields.contains($0.text) }),
           let unknown = object.keys.filter({ !fields.contains($0.text) }).sorted().first?.text {
            throw PayloadError(field: unknown, "is not a known field; a payload has \"inputs\" and optionally \"parameters\", \"options\" and \"stream\"")
        }
        switch object["stream"] {
        case nil, .null?, .bool(false)?: break
        case .bool(true)?: throw PayloadError(field: "stream", "is true, but streaming is not offered: send \"stream\": false or leave it out")
        case let other?: throw PayloadError(field: "stream", "must be false, got \(other.typeName)")
        }
        switch object["options"] {
        case nil, .null?, .object?: break
        case let other?: throw PayloadError(field: "options", "must be an object, got \(other.typeName)")
        }
        let inputs = try decodeInputs(object["inputs"])
        if case .batch(let articles) = inputs, articles.count > limits.batchArticles {
            throw PayloadError(field: "inputs", "has \(articles.count) articles; this API summarises at most \(limits.batchArticles) per request (MAX_BATCH_ARTICLES)")
        }
        let parameters: GenerationParameters?
        switch object["parameters"] {
        case nil, .null?: parameters = nil
        case .object(let fields)?: parameters = try GenerationParameters(fields, limits: limits)
        case let other?: throw PayloadError(field: "parameters", "must be an object, got \(other.typeName)")
        }
        var request = SummarizeRequest(inputs: inputs, parameters: parameters)
        // A strictly parsed document of only `inputs` and parameters that went through unchanged
        // is the payload itself; otherwise (`options`, `stream`, a `null`, an integral float,
        // `generate_parameters`) it is written anew from `jsonValue`.
        if object.count == (object["parameters"] == nil ? 1 : 2), parameters?.isAsSent ?? (object["parameters"] == nil) {
            request.document = document
        }
        return request
    }

    private static func decodeInputs(_ value: JSONValue?) throws(PayloadError) -> Inputs {
        switch value {
        case nil, .null?:
            throw PayloadError(field: "inputs", "is required: the article text, or a list of article texts")
        case .string(let text)?:
            guard !isBlank(text) else { throw PayloadError(field: "inputs", "is empty: send the article text to summarise") }
            return .single(text)
        case .array(let items)?:
            guard !items.isEmpty else { throw PayloadError(field: "inputs", "is an empty list: send at least one article") }
            var texts: [String] = []
            texts.reserveCapacity(items.count)
            for (index, item) in items.enumerated() {
                guard case .string(let text) = item else {
                    throw PayloadError(field: "inputs[\(index)]", "must be a string, got \(item.typeName)")
                }
                guard !isBlank(text) else { throw PayloadError(field: "inputs[\(index)]", "is empty") }
                texts.append(text)
            }
            return .batch(texts)
        case let other?:
            throw PayloadError(field: "inputs", "must be a string or a list of strings, got \(other.typeName)")
        }
    }

    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.properties.isWhitespace || $0 == "\0" }
    }
}

/// A payload the function refuses, with the field at fault (`inputs`, `parameters.top_k`, …).
public struct PayloadError: Error, Sendable, Equatable, CustomStringConvertible {
    public var field: String?
    public var problem: String

    public init(field: String?, _ problem: String) {
        self.field = field
        self.problem = problem
    }

    public var description: String {
        guard let field else { return problem.prefix(1).uppercased() + problem.dropFirst() }
        return "\"\(field)\" \(problem)"
    }

    /// The document is not JSON at all (no field to name).
    static func notJSON(_ error: JSONParseError) -> PayloadError {
        PayloadError(field: nil, "the payload is not valid JSON: \(error)")
    }
}
