import Foundation
import JSON
import Testing
@testable import Summarizer

/// The parameter table, row by row, and what it refuses.
@Suite struct GenerationParametersTests {
    func decode(_ parameters: String, _ limits: RequestLimits = .default) throws(PayloadError) -> SummarizeRequest {
        try SummarizeRequest.decode(json: Array(#"{"inputs": "x", "parameters": {\#(parameters)}}"#.utf8), limits: limits)
    }

    func problem(_ parameters: String, _ limits: RequestLimits = .default) -> PayloadError? {
        do {
            _ = try decode(parameters, limits)
            return nil
        } catch {
            return error
        }
    }

    /// What the model is sent for `parameters`.
    func sent(_ parameters: String) throws -> [String: Any] {
        let body = try decode(parameters).body
        let object = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        return try #require(object["parameters"] as? [String: Any])
    }

    /// What a row's key needs beside it to pass transformers' rules between parameters.
    static func companions(_ name: String) -> String {
        name == "num_beam_groups" ? #", "diversity_penalty": 1.0"# : ""
    }

    /// Every row: its edges accepted, just past them refused with the row's words, a value of
    /// another type refused.
    @Test(arguments: GenerationParameters.table.map(\.name))
    func eachRowAcceptsItsRangeAndRefusesTheRest(name: String) throws {
        let rule = try #require(GenerationParameters.rules[JSONKey(name)])
        let limits = RequestLimits(returnSequences: 3, beams: 4, generationTokens: 50, batchArticles: 2)
        let extra = Self.companions(name)
        var accepted: [String] = []
        var refused: [String] = [#""many""#, "null", "[1]"]
        switch rule.kind {
        case .integer(let minimum, let maximum):
            let upper = rule.cap.map { limits[$0] } ?? maximum
            accepted = [String(minimum), String(upper), "\(upper).0"]
            refused += [String(upper + 1), String(minimum - 1), "\(minimum).5", "1e30"]
        case .number(let minimum, let exclusive, let maximum):
            accepted = ["1", "0.5"]
            if let minimum { exclusive ? refused.append(String(minimum)) : accepted.append(String(minimum)); refused.append(String(minimum - 1)) }
            if let maximum { accepted.append(String(maximum)); refused.append(String(maximum + 0.5)) }
            if minimum == nil { accepted.append("-2.5") }
        case .boolean:
            accepted = ["true", "false"]
            refused += ["1", #""true""#]
        case .booleanOr(let words):
            accepted = ["true", "false"] + words.map { "\"\($0)\"" }
            refused += ["1", #""sometimes""#]
        }
        for value in accepted {
            #expect(problem(#""\#(name)": \#(value)\#(extra)"#, limits) == nil, "\(name): \(value) refused")
        }
        for value in refused {
            let error = problem(#""\#(name)": \#(value)\#(extra)"#, limits)
            #expect(error?.field == "parameters.\(name)", "\(name): \(value) accepted")
            #expect(error?.description.contains(rule.accepted(limits)) == true, "\(error?.description ?? "")")
        }
    }

    /// A capped key's message states the cap in force, not the most it could be set to.
    @Test(arguments: ParameterRule.Cap.allCases)
    func messagesStateTheRealCap(cap: ParameterRule.Cap) throws {
        let name = try #require(GenerationParameters.table.first { $0.cap == cap }).name
        let error = try #require(problem(#""\#(name)": 64"#, RequestLimits(returnSequences: 5, beams: 5, generationTokens: 5, batchArticles: 5)))
        #expect(error.description == #""parameters.\#(name)" must be an integer from \#(name.hasPrefix("min") ? 0 : 1) to 5 (\#(cap.rawValue)), got 64"#)
        #expect(problem(#""\#(name)": 5"#, RequestLimits(returnSequences: 5, beams: 5, generationTokens: 5, batchArticles: 5)) == nil)
    }

    /// A capped row's maximum is the most its variable may be set to, and the configuration agrees.
    @Test(arguments: GenerationParameters.table.filter { $0.cap != nil }.map(\.name))
    func cappedRowsEndAtTheirCapsCeiling(name: String) throws {
        let rule = try #require(GenerationParameters.rules[JSONKey(name)])
        let cap = try #require(rule.cap)
        guard case .integer(_, let maximum) = rule.kind else { Issue.record("\(name) is capped but not an integer"); return }
        #expect(maximum == cap.ceiling)
        let environment = ["ENDPOINT_NAME": "e", "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
                           "AWS_SECRET_ACCESS_KEY": "secret", "AWS_ENDPOINT_URL": "http://127.0.0.1:1"]
        let highest = try Configuration.fromEnvironment(environment.merging([cap.rawValue: String(maximum)]) { $1 }) { _ in false }
        #expect(highest.limits[cap] == maximum)
        #expect(throws: ConfigurationError.self) {
            try Configuration.fromEnvironment(environment.merging([cap.rawValue: String(maximum + 1)]) { $1 }) { _ in false }
        }
    }

    @Test func theDefaultCapsAreEightEightAnd1024() {
        #expect(problem(#""num_beams": 64"#)?.description == #""parameters.num_beams" must be an integer from 1 to 8 (MAX_NUM_BEAMS), got 64"#)
        #expect(problem(#""num_return_sequences": 9, "num_beams": 8"#)?.description.contains("from 1 to 8 (MAX_RETURN_SEQUENCES)") == true)
        #expect(problem(#""max_length": 1025"#)?.description.contains("from 1 to 1024 (MAX_GENERATION_TOKENS)") == true)
        #expect(problem(#""num_beams": 8, "num_return_sequences": 8, "max_length": 1024, "max_new_tokens": 1024"#) == nil)
    }

    /// Keys that load code, fork processes, change the device or multiply the cost of a token.
    @Test(arguments: [
        #""custom_generate": "org/repo""#, #""trust_remote_code": true"#, #""num_workers": 64"#, #""batch_size": 64"#,
        #""device": "cpu""#, #""device_map": "auto""#, #""model_kwargs": {"attn_implementation": "eager"}"#,
        #""generation_config": {"num_beams": 64}"#, #""assistant_model": "org/small""#, #""streamer": "x""#,
        #""penalty_alpha": 0.6"#, #""use_cache": false"#, #""return_tensors": true"#,
    ])
    func dangerousKeysAreRefusedByName(parameter: String) throws {
        let key = String(parameter.dropFirst().prefix { $0 != "\"" })
        for body in [parameter, #""generate_parameters": {\#(parameter)}"#] {
            let error = try #require(problem(body), "\(body) accepted")
            #expect(error.field?.hasSuffix("." + key) == true, "\(error)")
            #expect(error.description.contains("README.md") && error.description.contains("docs/openapi.json"), "\(error)")
        }
    }

    /// Swift seeds its hashing per process: of several faults, the table's first is reported.
    @Test func ofSeveralFaultsTheFirstInTheTableIsReported() {
        #expect(problem(#""clean_up_tokenization_spaces": 1, "top_p": 2, "max_length": 0, "num_beams": 99"#)?.field == "parameters.max_length")
        #expect(problem(#""max_length": 0, "zzz": 1, "aaa": 2"#)?.field == "parameters.aaa", "unknown keys first, sorted")
    }

    @Test func contrastiveSearchIsRefusedEvenWithALowTopK() {
        #expect(problem(#""penalty_alpha": 0.6, "top_k": 4"#)?.field == "parameters.penalty_alpha")
    }

    /// huggingface_hub's `text_generation()` retries without the keys a 400 names in
    /// transformers' words: `details`, `return_full_text` and `stop` are what it always sends.
    @Test func refusedKeysAreListedInTransformersWords() {
        let error = problem(#""stop": [], "details": false, "return_full_text": false, "max_new_tokens": 20"#)
        #expect(error?.field == "parameters.details")
        #expect(error?.description.hasSuffix("The following `model_kwargs` are not used by the model: ['details', 'return_full_text', 'stop']") == true,
                "\(error?.description ?? "")")
    }

    // MARK: generate_parameters

    @Test func generateParametersAreFlattened() throws {
        let parameters = try sent(#""truncation": "only_first", "generate_parameters": {"num_beams": 4, "max_length": 60.0, "early_stopping": "never"}"#)
        #expect(parameters.count == 4)
        #expect(parameters["num_beams"] as? Int == 4)
        #expect(parameters["max_length"] as? Int == 60)
        #expect(parameters["early_stopping"] as? String == "never")
        #expect(parameters["truncation"] as? String == "only_first")
        #expect(parameters["generate_parameters"] == nil)
        #expect(try sent(#""generate_parameters": null, "num_beams": 2"#).count == 1)
    }

    /// InferenceClient.summarization(generate_parameters=...) once reached SageMaker with these.
    @Test func nestedSettingsMeetTheSameCaps() {
        let error = problem(#""generate_parameters": {"num_beams": 64, "max_length": 100000, "num_return_sequences": 50}"#)
        #expect(error?.field?.hasPrefix("parameters.generate_parameters.") == true)
        #expect(error?.description.contains("(MAX_") == true, "\(error?.description ?? "")")
        #expect(problem(#""generate_parameters": {"num_beams": 2, "num_return_sequences": 4}"#)?.field == "parameters.num_return_sequences")
    }

    @Test func aKeyAtBothLevelsIsRefused() {
        let error = problem(#""max_length": 60, "generate_parameters": {"max_length": 80}"#)
        #expect(error?.field == "parameters.generate_parameters.max_length")
        #expect(error?.description.contains("give it once") == true)
        #expect(problem(#""generate_parameters": [1]"#)?.description == #""parameters.generate_parameters" must be an object, got an array"#)
        #expect(problem(#""generate_parameters": {"generate_parameters": {}}"#)?.field == "parameters.generate_parameters.generate_parameters")
    }

    // MARK: numbers

    @Test func integralFloatsAreSentAsIntegers() throws {
        let parameters = try sent(#""max_length": 130.0, "min_length": 1e1, "num_beams": 4E0, "top_k": -0.0"#)
        #expect(parameters["max_length"] as? Int == 130)
        #expect(parameters["min_length"] as? Int == 10)
        #expect(parameters["num_beams"] as? Int == 4)
        let body = String(decoding: try decode(#""max_length": 130.0"#).body, as: UTF8.self)
        #expect(body == #"{"inputs":"x","parameters":{"max_length":130}}"#)
        #expect(problem(#""max_length": 1e2"#) == nil)
        #expect(problem(#""max_length": 130.5"#)?.description == #""parameters.max_length" must be an integer from 1 to 1024 (MAX_GENERATION_TOKENS), got 130.5"#)
    }

    /// transformers' logits processors refuse a Python `int` for these.
    @Test func floatParametersAreSentAsFloats() throws {
        let body = String(decoding: try decode(#""temperature": 2, "repetition_penalty": 1, "do_sample": true"#).body, as: UTF8.self)
        #expect(body == #"{"inputs":"x","parameters":{"do_sample":true,"repetition_penalty":1.0,"temperature":2.0}}"#)
    }

    @Test func anIntegerPastInt64IsSentAsAFloat() throws {
        // Parsed as a double that compares equal, yet Python reads the literal as an int, which
        // transformers' float-only processors refuse: it must be written anew.
        let penalty = try #require(sent(#""repetition_penalty": 10000000000000000000"#)["repetition_penalty"] as? Double)
        #expect(penalty == 1e19)
        let body = String(decoding: try decode(#""repetition_penalty": 10000000000000000000"#).body, as: UTF8.self)
        #expect(!body.contains("10000000000000000000"), "\(body)")
    }

    @Test func parametersAsTheyCameGoAsTheyCame() throws {
        let json = #"{"inputs": "x", "parameters": {"max_length": 60, "temperature": 0.5, "early_stopping": "never"}}"#
        #expect(try SummarizeRequest.decode(json: Array(json.utf8)).body == Array(json.utf8))
    }

    // MARK: transformers' rules between parameters

    @Test(arguments: [
        (#""min_length": 80, "max_length": 40"#, "parameters.min_length", #"(80) must not exceed "parameters.max_length" (40)"#),
        (#""min_new_tokens": 9, "max_new_tokens": 8"#, "parameters.min_new_tokens", "must not exceed"),
        (#""num_return_sequences": 3, "num_beams": 2"#, "parameters.num_return_sequences", #"unless "do_sample" is true"#),
        (#""num_beams": 6, "num_beam_groups": 4, "diversity_penalty": 0.5"#, "parameters.num_beams", "divisible"),
        (#""num_beams": 4, "num_beam_groups": 2, "do_sample": true, "diversity_penalty": 0.5"#, "parameters.num_beam_groups", "do_sample"),
        (#""num_beams": 4, "num_beam_groups": 2"#, "parameters.num_beam_groups", "diversity_penalty"),
        (#""num_beam_groups": 2"#, "parameters.num_beam_groups", "diversity_penalty"),
        (#""num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0"#, "parameters.num_beam_groups", "diversity_penalty"),
    ])
    func inconsistentCombinationsAreRefused(parameters: String, field: String, fragment: String) throws {
        let error = try #require(problem(parameters), "\(parameters) accepted")
        #expect(error.field == field)
        #expect(error.description.contains(fragment), "\(error)")
    }

    @Test(arguments: [
        #""num_return_sequences": 3, "num_beams": 3"#,
        #""num_return_sequences": 3, "num_beams": 1, "do_sample": true"#,
        #""num_return_sequences": 3"#,
        #""num_beams": 4, "num_beam_groups": 2, "diversity_penalty": 0.5"#,
        #""min_length": 40, "max_length": 40"#,
        #""min_length": 400, "max_new_tokens": 40"#,
    ])
    func consistentCombinationsPass(parameters: String) {
        #expect(problem(parameters) == nil)
    }
}
