import Foundation
import Testing
@testable import JSON

@Suite struct JSONWriterTests {
    /// Text that has broken JSON writers: controls, quotes, backslashes, lone surrogates' neighbours,
    /// non-BMP characters, combining marks.
    static let nastyStrings = [
        "", "plain", "quote \" backslash \\ slash /", "line\nbreak\r\ttab", "\u{0}\u{1}\u{1F}\u{7F}",
        "é 🧪 日本", "e\u{301}", "\u{2028}\u{2029}", String(repeating: "\\\"", count: 100),
    ]

    @Test(arguments: nastyStrings)
    func quotedParsesBackToTheSameString(text: String) throws {
        let quoted = text.jsonQuoted

        #expect(!quoted.utf8.contains { $0 < 0x20 }, "raw control characters in \(quoted)")
        #expect(quoted.hasPrefix("\"") && quoted.hasSuffix("\""))
        let parsed = try JSONValue(parsing: Array("[\(quoted)]".utf8))
        #expect(parsed == .array([.string(text)]))
        let foundation = try JSONSerialization.jsonObject(with: Data("[\(quoted)]".utf8)) as? [String]
        #expect(foundation?.first.map { Array($0.unicodeScalars) } == Array(text.unicodeScalars))
    }

    @Test func quotedEscapes() {
        #expect("".jsonQuoted == #""""#)
        #expect(#"a"b\c"#.jsonQuoted == #""a\"b\\c""#)
        #expect("\n\r\t".jsonQuoted == #""\n\r\t""#)
        #expect("\u{0}\u{1}\u{1F}".jsonQuoted == #""\u0000\u0001\u001f""#)
        #expect("é 🧪\u{7F}".jsonQuoted == "\"é 🧪\u{7F}\"", "DEL and non-ASCII need no escape")
    }

    @Test func valuesAreWrittenCompactWithSortedKeys() {
        let value = JSONValue.object(["b": .array([.int(1), .double(2.5), .null, .bool(true)]), "a": .string("x")])
        #expect(String(decoding: value.serialized(), as: UTF8.self) == #"{"a":"x","b":[1,2.5,null,true]}"#)
    }
}
