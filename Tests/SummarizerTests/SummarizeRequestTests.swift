import Foundation
import Testing
@testable import Summarizer

@Suite struct SummarizeRequestTests {
    func decode(_ json: String) throws(PayloadError) -> SummarizeRequest {
        try SummarizeRequest.decode(json: Array(json.utf8))
    }

    func problem(_ json: String) -> PayloadError? {
        do {
            _ = try decode(json)
            return nil
        } catch {
            return error
        }
    }

    @Test func singleArticle() throws {
        let request = try decode(#"{"inputs": "Shares rose.", "parameters": {"num_return_sequences": 5}}"#)
        #expect(request.inputs == .single("Shares rose."))
        #expect(request.parameters?.numReturnSequences == 5)
    }

    @Test func batchOfArticles() throws {
        let request = try decode(#"{"inputs": ["One.", "Two."]}"#)
        #expect(request.inputs == .batch(["One.", "Two."]))
        #expect(request.parameters == nil)
    }

    @Test func nullParametersAreNoParameters() throws {
        #expect(try decode(#"{"inputs": "x", "parameters": null}"#).parameters == nil)
    }

    @Test func aPayloadGoesToTheModelAsItCame() throws {
        let json = "{\n  \"parameters\": {\"max_length\": 60, \"temperature\": 1.50, \"truncation\": \"only_\\u0066irst\"},\n  \"inputs\": [\"One.\", \"Tw\\u00f6.\"]\n}"
        #expect(try decode(json).body == Array(json.utf8))
    }

    @Test func aPayloadWithNullParametersIsWrittenWithout() throws {
        let request = try decode(#"{"inputs": "x", "parameters": null}"#)
        #expect(request.body == Array(#"{"inputs":"x"}"#.utf8))
    }

    @Test func requestsAreEqualWhateverTheirSpelling() throws {
        #expect(try decode(#"{"inputs": ["a"]}"#) == SummarizeRequest(inputs: .batch(["a"])))
        #expect(try decode(#"{"inputs":"a"}"#) != SummarizeRequest(inputs: .batch(["a"])))
    }

    @Test func onlyTheCheckedPayloadIsSent() throws {
        let request = try decode(#"{"inputs": "x", "parameters": {"max_length": 60, "top_p": 0.9}, "options": {"use_cache": false}, "stream": false}"#)
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"inputs":"x","parameters":{"max_length":60,"top_p":0.9}}"#)
    }

    @Test(arguments: [
        (#""just a string""#, nil as String?, "must be a JSON object"),
        ("42", nil, "got a number"),
        ("[1, 2]", nil, "got an array"),
        ("null", nil, "got null"),
        ("{}", "inputs", "is required"),
        (#"{"inputs": null}"#, "inputs", "is required"),
        (#"{"inputs": ""}"#, "inputs", "is empty"),
        (#"{"inputs": "   \n\t "}"#, "inputs", "is empty"),
        (#"{"inputs": 12}"#, "inputs", "must be a string or a list of strings, got a number"),
        (#"{"inputs": {"text": "x"}}"#, "inputs", "got an object"),
        (#"{"inputs": []}"#, "inputs", "empty list"),
        (#"{"inputs": ["ok", 3]}"#, "inputs[1]", "must be a string, got a number"),
        (#"{"inputs": ["ok", ""]}"#, "inputs[1]", "is empty"),
        (#"{"input": "typo"}"#, "input", "is not a known field"),
        (#"{"inputs": "x", "stream": true}"#, "stream", "streaming is not offered"),
        (#"{"inputs": "x", "stream": "no"}"#, "stream", "must be false, got a string"),
        (#"{"inputs": "x", "parameters": {"custom": 1}}"#, "parameters.custom", "is not accepted"),
        (#"{"inputs": "x", "parameters": []}"#, "parameters", "must be an object, got an array"),
        (#"{"inputs": "x", "parameters": {"num_return_sequences": "5"}}"#, "parameters.num_return_sequences", #"must be an integer from 1 to 8 (MAX_RETURN_SEQUENCES), got "5""#),
        (#"{"inputs": "x", "parameters": {"num_return_sequences": 0}}"#, "parameters.num_return_sequences", "from 1 to 8 (MAX_RETURN_SEQUENCES), got 0"),
        (#"{"inputs": "x", "parameters": {"num_return_sequences": 2.5}}"#, "parameters.num_return_sequences", "must be an integer"),
        (#"{"inputs": "x", "parameters": {"temperature": 0}}"#, "parameters.temperature", "greater than 0, got 0"),
        (#"{"inputs": "x", "parameters": {"temperature": "hot"}}"#, "parameters.temperature", "must be a number"),
        (#"{"inputs": "x", "parameters": {"top_p": 1.5}}"#, "parameters.top_p", "at most 1, got 1.5"),
        (#"{"inputs": "x", "parameters": {"do_sample": "yes"}}"#, "parameters.do_sample", "true or false"),
        (#"{"inputs": "x", "parameters": {"min_length": 80, "max_length": 40}}"#, "parameters.min_length", "must not exceed"),
        (#"{"inputs": "x", "parameters": {"max_length": null}}"#, "parameters.max_length", "got null"),
    ])
    func rejectsWithTheFieldAtFault(json: String, field: String?, fragment: String) {
        let error = problem(json)
        #expect(error != nil, "accepted \(json)")
        #expect(error?.field == field)
        #expect(error?.description.contains(fragment) == true, "\(error?.description ?? "")")
    }

    // Foundation's decoder tolerates a trailing comma; that leniency is harmless and not tested here.
    @Test(arguments: ["{", #"{"inputs": "x""#, "", #"{"inputs": "x"} trailing"#, "\u{FF}\u{FE}"])
    func invalidJSONIsReportedAsSuch(json: String) {
        #expect(problem(json)?.description.hasPrefix("The payload is not valid JSON") == true)
    }

    @Test func deeplyNestedJSONIsAnErrorNotACrash() {
        let json = #"{"inputs": "x", "parameters": {"a": "# + String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000) + "}}"
        #expect(problem(json) != nil)
    }

    @Test func messageNamesTheFieldInQuotes() {
        #expect(PayloadError(field: "inputs", "is required").description == #""inputs" is required"#)
        #expect(PayloadError(field: nil, "the body is empty").description == "The body is empty")
    }
}

@Suite struct RequestLimitsTests {
    let limits = RequestLimits.default

    func refusal(_ json: String, _ limits: RequestLimits = .default) throws -> PayloadError? {
        do {
            _ = try SummarizeRequest.decode(json: Array(json.utf8), limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func requestsWithinTheDefaultsPass() throws {
        #expect(try refusal(#"{"inputs": "x", "parameters": {"num_beams": 8, "num_return_sequences": 8, "max_length": 1024, "max_new_tokens": 1024}}"#) == nil)
        let batch = "[" + Array(repeating: "\"a\"", count: 32).joined(separator: ",") + "]"
        #expect(try refusal(#"{"inputs": \#(batch)}"#) == nil)
    }

    @Test func eachCeilingNamesTheFieldAndTheLimit() throws {
        let cases: [(String, String, String)] = [
            (#""num_return_sequences": 9"#, "parameters.num_return_sequences", "to 8"),
            (#""num_beams": 64"#, "parameters.num_beams", "to 8"),
            (#""num_beam_groups": 9"#, "parameters.num_beam_groups", "to 8"),
            (#""max_length": 100000"#, "parameters.max_length", "to 1024"),
            (#""max_new_tokens": 1025"#, "parameters.max_new_tokens", "to 1024"),
            (#""min_length": 5000, "max_length": 6000"#, "parameters.max_length", "to 1024"),
            (#""min_new_tokens": 2048"#, "parameters.min_new_tokens", "to 1024"),
        ]
        for (parameters, field, limit) in cases {
            let error = try #require(try refusal(#"{"inputs": "x", "parameters": {\#(parameters)}}"#), "\(parameters)")
            #expect(error.field?.hasPrefix(field) == true)
            #expect(error.description.contains(limit), "\(error)")
        }
    }

    @Test func aBatchAboveTheLimitIsRefused() throws {
        let batch = "[" + Array(repeating: "\"a\"", count: 33).joined(separator: ",") + "]"
        let error = try #require(try refusal(#"{"inputs": \#(batch)}"#))
        #expect(error.field == "inputs")
        #expect(error.description.contains("33 articles"))
        #expect(error.description.contains("at most 32"))
    }

    @Test func configuredLimitsReplaceTheDefaults() throws {
        let tight = RequestLimits(returnSequences: 1, beams: 2, generationTokens: 100, batchArticles: 2)
        #expect(try refusal(#"{"inputs": "x", "parameters": {"num_return_sequences": 2}}"#, tight)?.field == "parameters.num_return_sequences")
        #expect(try refusal(#"{"inputs": "x", "parameters": {"max_length": 101}}"#, tight)?.field == "parameters.max_length")
        #expect(try refusal(#"{"inputs": ["a", "b", "c"]}"#, tight)?.field == "inputs")
        #expect(try refusal(#"{"inputs": "x", "parameters": {"num_beams": 2, "max_length": 100, "num_return_sequences": 1}}"#, tight) == nil)
    }
}

/// Hugging Face Inference API clients send `options`; the SageMaker container ignores it.
@Suite struct OptionsTests {
    @Test func optionsAreAcceptedCheckedAndNotSentOn() throws {
        let request = try SummarizeRequest.decode(json: Array(#"{"inputs": "x", "options": {"wait_for_model": true, "use_cache": false}}"#.utf8))
        #expect(String(decoding: request.body, as: UTF8.self) == #"{"inputs":"x"}"#)
        #expect(try SummarizeRequest.decode(json: Array(#"{"inputs": "x", "options": null}"#.utf8)).inputs == .single("x"))
        #expect(throws: PayloadError(field: "options", "must be an object, got a boolean")) {
            try SummarizeRequest.decode(json: Array(#"{"inputs": "x", "options": true}"#.utf8))
        }
    }
}
