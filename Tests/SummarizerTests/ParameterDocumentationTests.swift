import Foundation
import JSON
import Testing
@testable import Summarizer

/// README's "Generation parameters" and docs/openapi.json say what `GenerationParameters.table`
/// says: both are derived from it here. `UPDATE_PARAMETER_DOCS=1 swift test --filter
/// ParameterDocumentationTests` rewrites them from the table after it changes.
@Suite struct ParameterDocumentationTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let update = ProcessInfo.processInfo.environment["UPDATE_PARAMETER_DOCS"] == "1"
    /// README's table follows this line and ends at the first blank line.
    static let readmeMarker = "<!-- The rows below are GenerationParameters.table, checked by ParameterDocumentationTests. -->"

    /// A row's JSON Schema, with the default caps as the bounds (a deployment may set others).
    static func schema(_ rule: ParameterRule) -> JSONValue {
        var schema: [JSONKey: JSONValue] = [:]
        var description = rule.summary
        func number(_ value: Double) -> JSONValue {
            value.rounded() == value ? .int(Int(value)) : .double(value)
        }
        switch rule.kind {
        case .integer(let minimum, let maximum):
            schema["type"] = .string("integer")
            schema["minimum"] = .int(minimum)
            schema["maximum"] = .int(rule.cap.map { RequestLimits.default[$0] } ?? maximum)
            if let cap = rule.cap {
                description += "; at most \(cap.rawValue) (default \(RequestLimits.default[cap]), configurable up to \(maximum)). "
                    + "An integral number such as 130.0 counts as an integer"
            } else {
                description += ". An integral number such as 130.0 counts as an integer"
            }
        case .number(let minimum, let exclusive, let maximum):
            schema["type"] = .string("number")
            if let minimum { schema[exclusive ? "exclusiveMinimum" : "minimum"] = number(minimum) }
            if let maximum { schema["maximum"] = number(maximum) }
        case .boolean:
            schema["type"] = .string("boolean")
        case .booleanOr(let words):
            schema["enum"] = .array([.bool(true), .bool(false)] + words.map(JSONValue.string))
        }
        schema["description"] = .string(description)
        return .object(schema)
    }

    static func settings(nested: Bool) -> JSONValue {
        var properties = Dictionary(uniqueKeysWithValues: GenerationParameters.table.map { (JSONKey($0.name), schema($0)) })
        var description = "Generation settings: only these keys are accepted; any other is refused with a 400 that names it."
        if !nested {
            properties["generate_parameters"] = .object([
                "oneOf": .array([.object(["$ref": .string("#/components/schemas/GenerateParameters")]), .object(["type": .string("null")])]),
                "description": .string("The Hugging Face Inference API's nesting (InferenceClient.summarization(generate_parameters=...)): the same keys, flattened into parameters; a key given at both levels is refused"),
            ])
            description += " transformers' rules between them are checked too: min_length <= max_length, min_new_tokens <= max_new_tokens, "
                + "num_return_sequences <= num_beams unless do_sample, num_beams divisible by num_beam_groups, and num_beam_groups above 1 "
                + "needs diversity_penalty above 0 and no do_sample."
        }
        return .object([
            "type": .string("object"), "additionalProperties": .bool(false), "description": .string(description), "properties": .object(properties),
        ])
    }

    static func readmeRows() -> [String] {
        GenerationParameters.table.map { "| `\($0.name)` | \($0.accepted(.default)) | \($0.summary) |" }
    }

    @Test func theOpenAPIDocumentDescribesTheTable() throws {
        let url = Self.root.appendingPathComponent("docs/openapi.json")
        let text = try String(contentsOf: url, encoding: .utf8)
        guard case .object(var document) = try JSONValue(parsing: Array(text.utf8)),
              case .object(var components)? = document["components"], case .object(var schemas)? = components["schemas"] else {
            Issue.record("docs/openapi.json has no components.schemas")
            return
        }
        schemas["Parameters"] = Self.settings(nested: false)
        schemas["GenerateParameters"] = Self.settings(nested: true)
        components["schemas"] = .object(schemas)
        document["components"] = .object(components)
        let expected = Self.pretty(.object(document)) + "\n"
        if Self.update {
            try expected.write(to: url, atomically: true, encoding: .utf8)
        }
        #expect(Bool(text == expected), "docs/openapi.json differs from GenerationParameters.table (or from the writer's layout): run UPDATE_PARAMETER_DOCS=1 swift test --filter ParameterDocumentationTests")
    }

    @Test func theReadmeListsTheTable() throws {
        let url = Self.root.appendingPathComponent("README.md")
        let text = try String(contentsOf: url, encoding: .utf8)
        var lines = text.components(separatedBy: "\n")
        let found = lines.firstIndex(of: Self.readmeMarker)
        let marker = try #require(found, "README.md lacks the marker line")
        let header = ["| parameter | accepted | what it does |", "|---|---|---|"]
        let end = lines[marker...].firstIndex(of: "") ?? lines.endIndex
        let expected = header + Self.readmeRows()
        if Self.update {
            lines.replaceSubrange(marker + 1..<end, with: expected)
            try lines.joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
        }
        let rows = Array(lines[marker + 1..<(lines[marker...].firstIndex(of: "") ?? lines.endIndex)])
        #expect(rows == expected,
                "README.md's parameter table differs from GenerationParameters.table: run UPDATE_PARAMETER_DOCS=1 swift test --filter ParameterDocumentationTests")
    }

    /// OpenAPI's own fields first, in the order the specification lists them.
    static let leading: [JSONKey] = ["openapi", "info", "servers", "paths", "components"]

    /// Two-space indented JSON with sorted keys (`leading` first); arrays of scalars on one line.
    static func pretty(_ value: JSONValue, indent: String = "") -> String {
        let inner = indent + "  "
        switch value {
        case .object(let object) where !object.isEmpty:
            let keys = leading.filter { object[$0] != nil } + object.keys.filter { !leading.contains($0) }.sorted()
            let members = keys.map { key in
                inner + String(decoding: JSONValue.string(key.text).serialized(), as: UTF8.self) + ": " + pretty(object[key]!, indent: inner)
            }
            return "{\n" + members.joined(separator: ",\n") + "\n" + indent + "}"
        case .array(let items) where items.contains(where: { if case .object = $0 { true } else if case .array = $0 { true } else { false } }):
            return "[\n" + items.map { inner + pretty($0, indent: inner) }.joined(separator: ",\n") + "\n" + indent + "]"
        case .array(let items):
            return "[" + items.map { pretty($0) }.joined(separator: ", ") + "]"
        default:
            return String(decoding: value.serialized(), as: UTF8.self)
        }
    }
}
