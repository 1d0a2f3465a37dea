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
    /// Inference API clients send (`wait_for_model`, `use_cache`); the SageMaker container ignores
    /// it, so it is checked to be an object and not sent on.
    static let fields: Set<String> = ["inputs", "parameters", "options"]

    /// Decodes and checks a JSON payload. Every problem is reported with the field it concerns.
    public static func decode(json: [UInt8]) throws(PayloadError) -> SummarizeRequest {
        let value: JSONValue
        do {
            value = try JSONValue(parsing: json)
        } catch {
            throw PayloadError.notJSON(error)
        }
        return try from(value, document: json)
    }

    /// `document`, when given, is the JSON `value` was parsed from.
    public static func from(_ value: JSONValue, document: [UInt8]? = nil) throws(PayloadError) -> SummarizeRequest {
        guard case .object(let object) = value else {
            throw PayloadError(field: nil, "the payload must be a JSON object like {\"inputs\": \"article text\"}, got \(value.typeName)")
        }
        if let unknown = object.keys.filter({ !fields.contains($0.text) }).sorted().first?.text {
            throw PayloadError(field: unknown, "is not a known field; a payload has \"inputs\" and optionally \"parameters\" and \"options\"")
        }
        switch object["options"] {
        case nil, .null?, .object?: break
        case let other?: throw PayloadError(field: "options", "must be an object, got \(other.typeName)")
        }
        let inputs = try decodeInputs(object["inputs"])
        let parameters: GenerationParameters?
        switch object["parameters"] {
        case nil, .null?: parameters = nil
        case .object(let fields)?: parameters = try GenerationParameters(fields)
        case let other?: throw PayloadError(field: "parameters", "must be an object, got \(other.typeName)")
        }
        var request = SummarizeRequest(inputs: inputs, parameters: parameters)
        // A strictly parsed document with no other fields is the payload itself; with `options`
        // or an explicit `"parameters": null` it is written anew from `jsonValue`.
        if object["parameters"] != JSONValue.null, object["options"] == nil { request.document = document }
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

    /// Refuses a request that asks for more than `limits` allow, naming the field and the limit.
    /// Values that are not integers were already refused by `GenerationParameters`.
    public func check(_ limits: RequestLimits) throws(PayloadError) {
        if case .batch(let articles) = inputs, articles.count > limits.batchArticles {
            throw PayloadError(field: "inputs", "has \(articles.count) articles; this API summarises at most \(limits.batchArticles) per request (MAX_BATCH_ARTICLES)")
        }
        guard let values = parameters?.values else { return }
        let ceilings: [(names: [String], limit: Int, setting: String)] = [
            (["num_return_sequences"], limits.returnSequences, "MAX_RETURN_SEQUENCES"),
            (["num_beams", "num_beam_groups"], limits.beams, "MAX_NUM_BEAMS"),
            (["max_length", "max_new_tokens", "min_length", "min_new_tokens"], limits.generationTokens, "MAX_GENERATION_TOKENS"),
        ]
        for ceiling in ceilings {
            for name in ceiling.names {
                if case .int(let value)? = values[JSONKey(name)], value > ceiling.limit {
                    throw PayloadError(field: "parameters.\(name)", "must be at most \(ceiling.limit) on this API (\(ceiling.setting)), got \(value)")
                }
            }
        }
    }

    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy { $0.properties.isWhitespace || $0 == "\0" }
    }
}

/// Hugging Face generation parameters. The ones the model's `generate` checks are typed and
/// range-checked here, so a caller learns of a mistake before paying for a model call; others
/// are passed on unchanged.
public struct GenerationParameters: Sendable, Equatable {
    public var values: [JSONKey: JSONValue]

    enum Kind {
        case integer(ClosedRange<Int>)
        case number(lowerBound: Double, inclusive: Bool)
        case unboundedNumber
        case boolean
    }

    static let known: [String: Kind] = [
        "max_length": .integer(1...100_000),
        "min_length": .integer(0...100_000),
        "max_new_tokens": .integer(1...100_000),
        "min_new_tokens": .integer(0...100_000),
        "num_return_sequences": .integer(1...64),
        "num_beams": .integer(1...64),
        "num_beam_groups": .integer(1...64),
        "top_k": .integer(0...100_000),
        "no_repeat_ngram_size": .integer(0...100_000),
        "temperature": .number(lowerBound: 0, inclusive: false),
        "top_p": .number(lowerBound: 0, inclusive: false),
        "repetition_penalty": .number(lowerBound: 0, inclusive: false),
        "length_penalty": .unboundedNumber,
        "diversity_penalty": .number(lowerBound: 0, inclusive: true),
        "do_sample": .boolean,
        "early_stopping": .boolean,
        "clean_up_tokenization_spaces": .boolean,
        "return_text": .boolean,
        "return_tensors": .boolean,
    ]

    public init(_ values: [JSONKey: JSONValue]) throws(PayloadError) {
        for (name, value) in values where value != .null {
            guard let kind = Self.known[name.text] else { continue }
            try Self.check(name.text, value, kind)
        }
        if case .int(let minimum)? = values["min_length"], case .int(let maximum)? = values["max_length"], minimum > maximum {
            throw PayloadError(field: "parameters.min_length", "(\(minimum)) must not exceed parameters.max_length (\(maximum))")
        }
        if case .double(let topP)? = values["top_p"], topP > 1 {
            throw PayloadError(field: "parameters.top_p", "must be at most 1, got \(topP)")
        }
        self.values = values
    }

    public var numReturnSequences: Int {
        if case .int(let count)? = values["num_return_sequences"] { return count }
        return 1
    }

    private static func check(_ name: String, _ value: JSONValue, _ kind: Kind) throws(PayloadError) {
        var field: String { "parameters.\(name)" }
        switch kind {
        case .integer(let range):
            guard case .int(let number) = value else {
                throw PayloadError(field: field, "must be an integer, got \(value.typeName)")
            }
            guard range.contains(number) else {
                throw PayloadError(field: field, "must be between \(range.lowerBound) and \(range.upperBound), got \(number)")
            }
        case .number(let lowerBound, let inclusive):
            guard let number = numericValue(value) else {
                throw PayloadError(field: field, "must be a number, got \(value.typeName)")
            }
            guard inclusive ? number >= lowerBound : number > lowerBound, number.isFinite else {
                throw PayloadError(field: field, "must be \(inclusive ? "at least" : "greater than") \(lowerBound), got \(number)")
            }
        case .unboundedNumber:
            guard let number = numericValue(value), number.isFinite else {
                throw PayloadError(field: field, "must be a number, got \(value.typeName)")
            }
        case .boolean:
            guard case .bool = value else {
                throw PayloadError(field: field, "must be true or false, got \(value.typeName)")
            }
        }
    }

    private static func numericValue(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let number): Double(number)
        case .double(let number): number
        default: nil
        }
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
