import JSON

/// One accepted key of `parameters`: its JSON type and range, and the cost cap that bounds it.
/// `GenerationParameters.table` holds them all; README's "Generation parameters" and
/// docs/openapi.json are checked against it by the tests, so it is written only here.
public struct ParameterRule: Sendable {
    public enum Kind: Sendable, Equatable {
        /// A whole number; an integral float (`130.0`, `1e2`) counts as one and is sent as one.
        /// With a cap, the configured cap replaces `maximum` (which is the most the cap may be set to).
        case integer(minimum: Int, maximum: Int)
        /// A finite number, sent as a float: transformers' logits processors refuse a Python `int`
        /// for `temperature` and the penalties.
        case number(minimum: Double?, exclusiveMinimum: Bool, maximum: Double?)
        case boolean
        /// `true`, `false`, or one of these strings.
        case booleanOr([String])
    }

    /// The cost caps of `RequestLimits`, by the variable that sets each.
    public enum Cap: String, Sendable, CaseIterable {
        case returnSequences = "MAX_RETURN_SEQUENCES"
        case beams = "MAX_NUM_BEAMS"
        case generationTokens = "MAX_GENERATION_TOKENS"

        /// The most a deployment may set the cap to: its row's `maximum`.
        public var ceiling: Int {
            switch self {
            case .returnSequences, .beams: 64
            case .generationTokens: 100_000
            }
        }
    }

    public let name: String
    public let kind: Kind
    public let cap: Cap?
    /// What it does, for the documentation.
    public let summary: String

    init(_ name: String, _ kind: Kind, cap: Cap? = nil, _ summary: String) {
        self.name = name
        self.kind = kind
        self.cap = cap
        self.summary = summary
    }

    /// The accepted values in words, with the real cap: "an integer from 1 to 8 (MAX_NUM_BEAMS)".
    public func accepted(_ limits: RequestLimits) -> String {
        switch kind {
        case .integer(let minimum, let maximum):
            guard let cap else { return "an integer from \(minimum) to \(maximum)" }
            return "an integer from \(minimum) to \(limits[cap]) (\(cap.rawValue))"
        case .number(let minimum, let exclusive, let maximum):
            var text = "a number"
            if let minimum { text += exclusive ? " greater than \(Self.format(minimum))" : " of at least \(Self.format(minimum))" }
            if let maximum { text += (minimum == nil ? " of" : " and") + " at most \(Self.format(maximum))" }
            return text
        case .boolean:
            return "true or false"
        case .booleanOr(let words):
            let all = ["true", "false"] + words.map { "\"\($0)\"" }
            return all.dropLast().joined(separator: ", ") + " or " + all[all.count - 1]
        }
    }

    /// `value` as it goes to the model, or why it is refused (`field` names it).
    func check(_ value: JSONValue, field: @autoclosure () -> String, _ limits: RequestLimits) throws(PayloadError) -> JSONValue {
        switch kind {
        case .integer(let minimum, let maximum):
            let upper = cap.map { limits[$0] } ?? maximum
            let integer: Int? = switch value {
            case .int(let number): number
            // The bounds keep `Int(exactly:)` from trapping on a huge float.
            case .double(let number) where number.rounded() == number && abs(number) < 1e18: Int(exactly: number)
            default: nil
            }
            guard let integer, integer >= minimum, integer <= upper else {
                throw PayloadError(field: field(), "must be \(accepted(limits)), got \(Self.describe(value))")
            }
            return .int(integer)
        case .number(let minimum, let exclusive, let maximum):
            let number: Double? = switch value {
            case .int(let number): Double(number)
            case .double(let number): number
            default: nil
            }
            guard let number, number.isFinite,
                  minimum.map({ exclusive ? number > $0 : number >= $0 }) ?? true,
                  maximum.map({ number <= $0 }) ?? true else {
                throw PayloadError(field: field(), "must be \(accepted(limits)), got \(Self.describe(value))")
            }
            return .double(number)
        case .boolean:
            guard case .bool = value else { throw PayloadError(field: field(), "must be true or false, got \(Self.describe(value))") }
            return value
        case .booleanOr(let words):
            switch value {
            case .bool: return value
            case .string(let word) where words.contains(word): return value
            default: throw PayloadError(field: field(), "must be \(accepted(limits)), got \(Self.describe(value))")
            }
        }
    }

    /// `1.0` as `1`, so a range reads as the documentation writes it.
    static func format(_ number: Double) -> String {
        number.rounded() == number && abs(number) < 1e15 ? String(Int(number)) : String(number)
    }

    /// A refused value as a message quotes it: numbers, booleans and short strings themselves.
    static func describe(_ value: JSONValue) -> String {
        switch value {
        case .int(let number): String(number)
        case .double(let number): format(number)
        case .bool(let flag): String(flag)
        case .string(let text) where text.utf8.count <= 40: "\"\(text)\""
        default: value.typeName
        }
    }
}

extension RequestLimits {
    public subscript(cap: ParameterRule.Cap) -> Int {
        switch cap {
        case .returnSequences: returnSequences
        case .beams: beams
        case .generationTokens: generationTokens
        }
    }
}

/// The checked `parameters`: only keys of `table`, each of its type and within its range and
/// cap, `generate_parameters` flattened in, transformers' consistency rules met. The SageMaker
/// Hugging Face container hands these to the pipeline as keyword arguments, and the pipeline hands
/// what it does not use itself to `generate`; so every key passed on is one the model runs with.
/// Anything else (`custom_generate`, `trust_remote_code`, `num_workers`, `penalty_alpha`, ...) can
/// load code, fork processes or multiply the cost of a token, and is refused.
public struct GenerationParameters: Sendable, Equatable {
    public private(set) var values: [JSONKey: JSONValue]
    /// Whether `values` is the object the caller sent, key for key and value for value: then the
    /// caller's bytes can go to the model as they came.
    private(set) var isAsSent: Bool

    public static func == (lhs: GenerationParameters, rhs: GenerationParameters) -> Bool {
        lhs.values == rhs.values
    }

    /// The one table. Ranges are transformers' own (a `top_p` of 0 to 1, a positive
    /// `temperature`) or, for what sets the cost of a generation, a cost cap.
    public static let table: [ParameterRule] = [
        .init("max_length", .integer(minimum: 1, maximum: 100_000), cap: .generationTokens,
              "most tokens in a summary (with the prompt, for decoder-only models)"),
        .init("min_length", .integer(minimum: 0, maximum: 100_000), cap: .generationTokens,
              "fewest tokens in a summary; at most max_length"),
        .init("max_new_tokens", .integer(minimum: 1, maximum: 100_000), cap: .generationTokens,
              "most generated tokens; takes precedence over max_length"),
        .init("min_new_tokens", .integer(minimum: 0, maximum: 100_000), cap: .generationTokens,
              "fewest generated tokens; at most max_new_tokens"),
        .init("num_beams", .integer(minimum: 1, maximum: 64), cap: .beams,
              "beams of beam search; 1 is greedy or sampling"),
        .init("num_beam_groups", .integer(minimum: 1, maximum: 64), cap: .beams,
              "groups of diverse beam search; must divide num_beams, needs diversity_penalty above 0, not with do_sample"),
        .init("diversity_penalty", .number(minimum: 0, exclusiveMinimum: false, maximum: nil),
              "penalty for a group repeating another group's tokens (diverse beam search)"),
        .init("num_return_sequences", .integer(minimum: 1, maximum: 64), cap: .returnSequences,
              "summaries per article; at most num_beams without sampling"),
        .init("do_sample", .boolean, "sample instead of searching"),
        .init("temperature", .number(minimum: 0, exclusiveMinimum: true, maximum: nil),
              "sampling temperature"),
        .init("top_k", .integer(minimum: 0, maximum: 100_000),
              "sample among the k likeliest tokens; 0 turns it off"),
        .init("top_p", .number(minimum: 0, exclusiveMinimum: true, maximum: 1),
              "sample among the likeliest tokens holding this probability; 1 turns it off"),
        .init("typical_p", .number(minimum: 0, exclusiveMinimum: true, maximum: 1),
              "locally typical sampling mass; 1 turns it off"),
        .init("repetition_penalty", .number(minimum: 0, exclusiveMinimum: true, maximum: nil),
              "penalty for repeating a token; 1 is none"),
        .init("length_penalty", .number(minimum: nil, exclusiveMinimum: false, maximum: nil),
              "beam search's exponent on length: above 0 favours longer summaries"),
        .init("no_repeat_ngram_size", .integer(minimum: 0, maximum: 1_024),
              "no n-gram of this size occurs twice in a summary; 0 turns it off"),
        .init("encoder_no_repeat_ngram_size", .integer(minimum: 0, maximum: 1_024),
              "no n-gram of this size from the article occurs in a summary; 0 turns it off"),
        .init("early_stopping", .booleanOr(["never"]),
              "when beam search stops: true, false (heuristic) or \"never\""),
        .init("truncation", .booleanOr(["do_not_truncate", "longest_first", "only_first"]),
              "cut an article longer than the model takes (the tokenizer's strategies)"),
        .init("clean_up_tokenization_spaces", .boolean, "remove spaces the tokenizer left in the summary"),
    ]

    static let rules: [JSONKey: ParameterRule] = Dictionary(uniqueKeysWithValues: table.map { (JSONKey($0.name), $0) })

    /// The key under which Hugging Face Inference API clients nest generation settings.
    static let nestedKey: JSONKey = "generate_parameters"

    /// Where the accepted keys are listed, for a refusal.
    static let whereListed = "the accepted parameters are listed in README.md (\"Generation parameters\") and docs/openapi.json"

    public init(_ object: [JSONKey: JSONValue], limits: RequestLimits = .default) throws(PayloadError) {
        // The caller's object itself until a value changes: most requests change nothing, and
        // then nothing is copied.
        var values = object
        var isAsSent = true
        try Self.merge(object, prefix: "parameters", into: &values, copying: false, isAsSent: &isAsSent, limits)
        switch object[Self.nestedKey] {
        case nil:
            break
        case .null?:
            isAsSent = false
            values[Self.nestedKey] = nil
        case .object(let nested)?:
            isAsSent = false
            values[Self.nestedKey] = nil
            for key in nested.keys where object[key] != nil {
                throw PayloadError(field: "parameters.generate_parameters.\(key.text)",
                                   "is also given as \"parameters.\(key.text)\": give it once")
            }
            try Self.merge(nested, prefix: "parameters.generate_parameters", into: &values, copying: true, isAsSent: &isAsSent, limits)
        case let other?:
            throw PayloadError(field: "parameters.generate_parameters", "must be an object, got \(other.typeName)")
        }
        if !values.isEmpty { try Self.checkConsistency(values) }
        self.values = values
        self.isAsSent = isAsSent
    }

    /// Checks every key of `object` but `generate_parameters`; puts into `values` those whose
    /// value changed, or all of them when `copying`.
    private static func merge(
        _ object: [JSONKey: JSONValue], prefix: String, into values: inout [JSONKey: JSONValue], copying: Bool,
        isAsSent: inout Bool, _ limits: RequestLimits
    ) throws(PayloadError) {
        let isTop = !copying
        var hasUnknown = false
        var hasFault = false
        for (key, value) in object {
            guard let rule = rules[key] else {
                if !(isTop && key == nestedKey) { hasUnknown = true }
                continue
            }
            do {
                let checked = try rule.check(value, field: "", limits)
                if checked != value || Self.mayBeAnIntegerLiteral(checked) { isAsSent = false }
                if copying || checked != value { values[key] = checked }
            } catch {
                hasFault = true
            }
        }
        if hasUnknown {
            let unknown = object.keys.filter { rules[$0] == nil && !(isTop && $0 == nestedKey) }.sorted()
            // The last sentence is transformers' own for a keyword `generate` does not take:
            // huggingface_hub's `text_generation()` reads it and retries without those keys.
            // At most 32 named: a client that retries without them learns of the rest next time.
            let list = unknown.prefix(32).map { "'\($0.text)'" }.joined(separator: ", ")
            throw PayloadError(field: "\(prefix).\(unknown[0].text)",
                               "is not accepted; \(whereListed). The following `model_kwargs` are not used by the model: [\(list)]")
        }
        guard hasFault else { return }
        // Of several faults, the first in the table's order, so that every process reports the same one.
        for rule in table {
            if let value = object[JSONKey(rule.name)] { _ = try rule.check(value, field: "\(prefix).\(rule.name)", limits) }
        }
    }

    /// An integral number past Int64, which the parser keeps as a double although the literal
    /// may have had no fraction: the model's Python would read that literal as an `int`, which
    /// transformers' float-only processors refuse, so such a value is written anew (as `1e+19`).
    private static func mayBeAnIntegerLiteral(_ value: JSONValue) -> Bool {
        guard case .double(let number) = value else { return false }
        return number.rounded() == number && abs(number) >= 0x1p63
    }

    /// transformers' own rules between parameters, so that a combination `generate` would refuse
    /// is a 400 before SageMaker is paid, not a model error after.
    private static func checkConsistency(_ values: [JSONKey: JSONValue]) throws(PayloadError) {
        func integer(_ key: JSONKey) -> Int? {
            if case .int(let number)? = values[key] { return number }
            return nil
        }
        func ordered(_ low: JSONKey, _ high: JSONKey) throws(PayloadError) {
            if let minimum = integer(low), let maximum = integer(high), minimum > maximum {
                throw PayloadError(field: "parameters.\(low)", "(\(minimum)) must not exceed \"parameters.\(high)\" (\(maximum))")
            }
        }
        try ordered("min_length", "max_length")
        try ordered("min_new_tokens", "max_new_tokens")
        let sampling = values["do_sample"] == .bool(true)
        if let beams = integer("num_beams"), let sequences = integer("num_return_sequences"), sequences > beams, !sampling {
            throw PayloadError(field: "parameters.num_return_sequences",
                               "(\(sequences)) must not exceed \"parameters.num_beams\" (\(beams)) unless \"do_sample\" is true")
        }
        if let groups = integer("num_beam_groups"), groups > 1 {
            if let beams = integer("num_beams"), beams % groups != 0 {
                throw PayloadError(field: "parameters.num_beams", "(\(beams)) must be divisible by \"parameters.num_beam_groups\" (\(groups))")
            }
            if sampling {
                throw PayloadError(field: "parameters.num_beam_groups", "above 1 (diverse beam search) cannot be combined with \"do_sample\": true")
            }
            guard case .double(let penalty)? = values["diversity_penalty"], penalty > 0 else {
                throw PayloadError(field: "parameters.num_beam_groups", "above 1 needs \"parameters.diversity_penalty\" above 0, or the groups are identical")
            }
        }
    }

    public var numReturnSequences: Int {
        if case .int(let count)? = values["num_return_sequences"] { return count }
        return 1
    }
}
