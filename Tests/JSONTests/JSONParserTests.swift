import Foundation
import Testing
@testable import JSON

@Suite struct JSONParserTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue {
        try JSONValue(parsing: Array(text.utf8))
    }

    func failure(_ bytes: [UInt8]) -> JSONParseError? {
        do {
            _ = try JSONValue(parsing: bytes)
            return nil
        } catch {
            // The validating mode must agree with the building one.
            #expect(throws: JSONParseError.self) { try JSONValue.validate(bytes) }
            return error
        }
    }

    func failure(_ text: String) -> JSONParseError? { failure(Array(text.utf8)) }

    @Test func valuesOfEveryKind() throws {
        let value = try parse(#" {"s": "a\"b\\c\/d\n\u00e9\ud83d\ude00", "i": -42, "d": 2.5e-3, "z": 0, "t": true, "f": false, "n": null, "a": [1, [], {}]} "#)
        #expect(value == .object([
            "s": .string("a\"b\\c/d\né😀"), "i": .int(-42), "d": .double(0.0025), "z": .int(0),
            "t": .bool(true), "f": .bool(false), "n": .null,
            "a": .array([.int(1), .array([]), .object([:])]),
        ]))
    }

    @Test func integersBeyondIntBecomeDoubles() throws {
        #expect(try parse("12345678901234567890") == .double(12345678901234567890))
        #expect(try parse("9223372036854775807") == .int(.max))
        #expect(try parse("1E2") == .double(100))
    }

    @Test func repeatedKeysKeepTheLastValue() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#) == .object(["a": .int(2)]))
    }

    @Test(arguments: [
        ("", "unexpected end of data at byte 0"),
        ("[1,]", "unexpected ']' at byte 3"),
        (#"{"a": 1,}"#, "expected a string key, found '}' at byte 8"),
        ("[1 2]", "expected ',' or ']' in an array, found '2' at byte 3"),
        ("01", "number with a leading zero at byte 0"),
        ("1.", "expected a digit after '.' at byte 2"),
        ("-", "invalid number at byte 0"),
        ("1e999", "number 1e999 is out of range at byte 0"),
        ("NaN", "unexpected 'N' at byte 0"),
        ("tru", "invalid literal, expected true at byte 0"),
        (#""abc"#, "unterminated string at byte 0"),
        (#""\x""#, #"invalid escape \x at byte 1"#),
        (#""\ud800""#, #"unpaired UTF-16 surrogate in a \u escape at byte 7"#),
        (#""\udc00""#, #"unpaired UTF-16 surrogate in a \u escape at byte 7"#),
        (#""\u12g4""#, #"invalid hex digit 'g' in a \u escape at byte 5"#),
        ("{} {}", "unexpected '{' after the JSON value at byte 3"),
        ("// comment\n1", "unexpected '/' at byte 0"),
    ])
    func strictRFC8259(text: String, message: String) {
        #expect(failure(text)?.description == message)
    }

    @Test func controlCharactersAndInvalidUTF8InStringsAreRefused() {
        #expect(failure([0x22, 0x61, 0x0A, 0x22])?.reason == "control character 0xa inside a string (escape it)")
        #expect(failure([0x22, 0xFF, 0xFE, 0x22])?.description == "invalid UTF-8 in a string at byte 1")
        #expect(failure([0x22, 0x5C, 0x6E, 0xC3, 0x22])?.reason == "invalid UTF-8 in a string")
        #expect(failure([0x22, 0x61, 0x00, 0x22]) != nil)
    }

    /// Long strings are scanned eight bytes at a time: whatever ends or breaks a plain run must
    /// be found at every position of a word, and in both modes.
    @Test func everyPositionOfALongStringIsChecked() throws {
        for position in 0..<24 {
            var text = Array(repeating: UInt8(ascii: "a"), count: 24)
            text[position] = UInt8(ascii: "\\")
            text.insert(UInt8(ascii: "n"), at: position + 1)
            let escaped = try parse(#"""# + String(decoding: text, as: UTF8.self) + #"""#)
            #expect(escaped == .string(String(repeating: "a", count: position) + "\n" + String(repeating: "a", count: 23 - position)))

            var quoted = Array(repeating: UInt8(ascii: "b"), count: 25)
            quoted[position] = UInt8(ascii: "\"")
            let document = [UInt8(ascii: "[")] + [UInt8(ascii: "\"")] + quoted + [UInt8(ascii: "]")]
            #expect(failure(document) != nil, "a quote at \(position) must end the string")
            let first = try JSONValue(parsing: [UInt8(ascii: "["), UInt8(ascii: "\"")] + quoted[..<position] + [UInt8(ascii: "\""), UInt8(ascii: "]")])
            #expect(first == .array([.string(String(repeating: "b", count: position))]))

            for bad: [UInt8] in [[0x1F], [0x00], [0xFF], [0xC3], [0xED, 0xA0, 0x80]] {
                var broken = Array(repeating: UInt8(ascii: "c"), count: 24)
                broken.replaceSubrange(position..<position + 1, with: bad)
                #expect(failure([0x22] + broken + [0x22]) != nil, "byte \(bad) at \(position) must be refused")
            }
            var accented = Array(repeating: UInt8(ascii: "d"), count: 24)
            accented.replaceSubrange(position..<position + 1, with: [0xC3, 0xA9])
            #expect(try parse(String(decoding: [0x22] + accented + [0x22], as: UTF8.self)) == .string(String(decoding: accented, as: UTF8.self)))
            try JSONValue.validate([0x22] + accented + [0x22])
        }
    }

    @Test func nestingIsBoundedWithoutExhaustingTheStack() throws {
        let limit = JSONValue.maximumDepth
        _ = try parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(failure(tooDeep)?.reason == "nested deeper than \(limit) levels")
        let hostile = String(repeating: "{\"a\":[", count: 100_000)
        #expect(failure(hostile)?.reason == "nested deeper than \(limit) levels")
    }

    @Test func serializationEscapesAndRoundTrips() throws {
        let value = JSONValue.object([
            "text": .string("quote \" backslash \\ newline \n tab \t bell \u{07} é 😀 /"),
            "list": .array([.int(-1), .double(0.1), .double(1e300), .bool(false), .null]),
        ])
        let data = value.serialized()
        #expect(String(decoding: data, as: UTF8.self)
            == #"{"list":[-1,0.1,1e+300,false,null],"text":"quote \" backslash \\ newline \n tab \t bell \u0007 é 😀 /"}"#)
        #expect(try JSONValue(parsing: data) == value)
        #expect(try JSONSerialization.jsonObject(with: Data(data)) is [String: Any])
    }

    @Test func agreesWithJSONSerializationOnTheEventFixtures() throws {
        // AWS's sample events, kept with the event tests.
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../LambdaEventsTests/Fixtures").standardized
        let files = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".json") }
        #expect(files.count >= 8)
        for file in files {
            let data = try Data(contentsOf: folder.appendingPathComponent(file))
            let ours = try JSONValue(parsing: Array(data))
            try JSONValue.validate(Array(data))
            // Foundation reads our serialization as the same document it reads from the original.
            let theirs = try JSONSerialization.jsonObject(with: data) as! NSObject
            let reread = try JSONSerialization.jsonObject(with: Data(ours.serialized())) as! NSObject
            #expect(theirs == reread, "\(file)")
        }
    }
}

/// RFC 8259 compares member names by code points; Swift's `String` by canonical equivalence.
@Suite struct JSONKeyTests {
    @Test func namesThatOnlyLookAlikeAreTwoMembers() throws {
        let value = try JSONValue(parsing: Array(#"{"café": 1, "cafe\u0301": 2}"#.utf8))
        guard case .object(let object) = value else {
            Issue.record("not an object")
            return
        }
        #expect(object.count == 2)
        #expect(value["caf\u{E9}"] == .int(1))
        #expect(value["cafe\u{301}"] == .int(2))
        // Written back, both are there, in code point order ("e" before "é").
        #expect(String(decoding: value.serialized(), as: UTF8.self) == "{\"cafe\u{301}\":2,\"caf\u{E9}\":1}")
    }

    @Test func keysOrderAndHashByTheirBytes() {
        #expect(JSONKey("a") < JSONKey("b"))
        #expect(JSONKey("Z") < JSONKey("a"))
        #expect(JSONKey("cafe\u{301}") != JSONKey("caf\u{E9}"))
        #expect(Set([JSONKey("cafe\u{301}"), JSONKey("caf\u{E9}"), JSONKey("caf\u{E9}")]).count == 2)
    }
}
