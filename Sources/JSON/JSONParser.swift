/// Why a document is not JSON, and where (a byte offset into it).
public struct JSONParseError: Error, Equatable, CustomStringConvertible {
    public var reason: String
    public var offset: Int

    public var description: String { "\(reason) at byte \(offset)" }
}

extension JSONValue {
    /// Deeper documents are refused: recursion stays bounded whatever a caller sends.
    public static let maximumDepth = 512

    /// Parses a whole document strictly by RFC 8259: no trailing commas, comments, leading zeros,
    /// bare control characters or invalid UTF-8; numbers must be finite. Keys repeated in one
    /// object keep their last value; keys compare by code points (`JSONKey`). Each value's type is
    /// read from its first byte, so every value is decoded once.
    public init(parsing bytes: [UInt8]) throws(JSONParseError) {
        self = try JSONParser.parse(bytes, keepsValues: true)
    }

    /// Whether `bytes` is one JSON document, checked like `init(parsing:)` without building it.
    public static func validate(_ bytes: [UInt8]) throws(JSONParseError) {
        _ = try JSONParser.parse(bytes, keepsValues: false)
    }
}

/// Recursive descent over the raw bytes. With `keepsValues` false, arrays and objects are
/// checked but not built (they come back as `.null`), so checking a large document costs no
/// memory beyond one string at a time.
private struct JSONParser {
    let bytes: UnsafeBufferPointer<UInt8>
    let keepsValues: Bool
    var index = 0
    var depth = 0

    init(_ bytes: UnsafeBufferPointer<UInt8>, keepsValues: Bool) {
        self.bytes = bytes
        self.keepsValues = keepsValues
    }

    /// `withUnsafeBufferPointer` only rethrows (`any Error`) before Swift 6.2: the typed error
    /// leaves the closure as a `Result`.
    static func parse(_ bytes: [UInt8], keepsValues: Bool) throws(JSONParseError) -> JSONValue {
        try bytes.withUnsafeBufferPointer { bytes in
            Result { () throws(JSONParseError) in
                var parser = JSONParser(bytes, keepsValues: keepsValues)
                return try parser.parseDocument()
            }
        }.get()
    }

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        let value = try parseValue()
        skipWhitespace()
        guard index == bytes.count else { throw failure("unexpected \(describeByte()) after the JSON value") }
        return value
    }

    private mutating func parseValue() throws(JSONParseError) -> JSONValue {
        skipWhitespace()
        guard index < bytes.count else { throw failure("unexpected end of data") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw failure("unexpected \(describeByte())")
        }
    }

    private mutating func parseObject() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        var object: [JSONKey: JSONValue] = [:]
        skipWhitespace()
        if peek == UInt8(ascii: "}") { return leaveContainer(.object(object)) }
        while true {
            skipWhitespace()
            guard peek == UInt8(ascii: "\"") else { throw failure("expected a string key, found \(describeByte())") }
            let key = try parseString()
            skipWhitespace()
            guard peek == UInt8(ascii: ":") else { throw failure("expected ':' after an object key, found \(describeByte())") }
            index += 1
            let value = try parseValue()
            if keepsValues { object[JSONKey(key)] = value }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "}"):
                return leaveContainer(keepsValues ? .object(object) : .null)
            default:
                throw failure("expected ',' or '}' in an object, found \(describeByte())")
            }
        }
    }

    private mutating func parseArray() throws(JSONParseError) -> JSONValue {
        try enterContainer()
        var array: [JSONValue] = []
        skipWhitespace()
        if peek == UInt8(ascii: "]") { return leaveContainer(.array(array)) }
        while true {
            let value = try parseValue()
            if keepsValues { array.append(value) }
            skipWhitespace()
            switch peek {
            case UInt8(ascii: ","):
                index += 1
            case UInt8(ascii: "]"):
                return leaveContainer(keepsValues ? .array(array) : .null)
            default:
                throw failure("expected ',' or ']' in an array, found \(describeByte())")
            }
        }
    }

    private mutating func enterContainer() throws(JSONParseError) {
        depth += 1
        guard depth <= JSONValue.maximumDepth else {
            throw failure("nested deeper than \(JSONValue.maximumDepth) levels")
        }
        index += 1
    }

    /// Past the closing bracket.
    private mutating func leaveContainer(_ value: JSONValue) -> JSONValue {
        index += 1
        depth -= 1
        return value
    }

    /// From the opening quote to past the closing one. Runs without escapes are copied whole;
    /// when only checking (`keepsValues` false) no string is built at all.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1
        let start = index
        // Articles are long: scan the plain run with no bounds check per byte, noting
        // whether it has any non-ASCII byte (only then does it need UTF-8 validation).
        var nonASCII: UInt8 = 0
        let end = bytes.count
        if let base = bytes.baseAddress {
            var position = index
            // Eight bytes at a time while none of them can end the run (SWAR: a byte below 0x20,
            // a quote or a backslash sets its high bit in `stops`).
            let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
            while position + 8 <= end {
                let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
                let quotes = word ^ (ones &* 0x22), backslashes = word ^ (ones &* 0x5C)
                let stops = ((word &- ones &* 0x20) | (quotes &- ones) | (backslashes &- ones)) & ~word & highs
                if stops != 0 { break }
                if word & highs != 0 { nonASCII = 0x80 }
                position += 8
            }
            while position < end {
                let byte = base[position]
                if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
                nonASCII |= byte
                position += 1
            }
            index = position
        }
        if index < end && bytes[index] == UInt8(ascii: "\"") {
            let run = UnsafeBufferPointer(rebasing: bytes[start..<index])
            index += 1
            if nonASCII < 0x80 {
                return keepsValues ? String(decoding: run, as: UTF8.self) : ""
            }
            guard let string = validString(run) else { throw failure("invalid UTF-8 in a string", at: start) }
            return string
        }
        var unescaped = Array(bytes[start..<index])
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard let string = unescaped.withUnsafeBufferPointer(validString) else {
                    throw failure("invalid UTF-8 in a string", at: start)
                }
                return string
            case UInt8(ascii: "\\"):
                try appendEscape(to: &unescaped)
            case 0..<0x20:
                throw failure("control character 0x\(String(byte, radix: 16)) inside a string (escape it)")
            default:
                unescaped.append(byte)
                index += 1
            }
        }
        throw failure("unterminated string", at: start - 1)
    }

    private mutating func appendEscape(to buffer: inout [UInt8]) throws(JSONParseError) {
        index += 1
        guard index < bytes.count else { throw failure("unterminated string") }
        let escape = bytes[index]
        index += 1
        switch escape {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): buffer.append(escape)
        case UInt8(ascii: "b"): buffer.append(0x08)
        case UInt8(ascii: "f"): buffer.append(0x0C)
        case UInt8(ascii: "n"): buffer.append(0x0A)
        case UInt8(ascii: "r"): buffer.append(0x0D)
        case UInt8(ascii: "t"): buffer.append(0x09)
        case UInt8(ascii: "u"):
            var scalar = UInt32(try hexQuad())
            if (0xD800...0xDBFF).contains(scalar) {
                guard peek == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                    throw failure("unpaired UTF-16 surrogate in a \\u escape")
                }
                index += 2
                let low = UInt32(try hexQuad())
                guard (0xDC00...0xDFFF).contains(low) else { throw failure("unpaired UTF-16 surrogate in a \\u escape") }
                scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
            }
            guard let unicode = Unicode.Scalar(scalar) else { throw failure("unpaired UTF-16 surrogate in a \\u escape") }
            buffer.append(contentsOf: String(Character(unicode)).utf8)
        default:
            throw failure("invalid escape \\\(Character(Unicode.Scalar(escape)))", at: index - 2)
        }
    }

    private mutating func hexQuad() throws(JSONParseError) -> UInt16 {
        guard index + 4 <= bytes.count else { throw failure("incomplete \\u escape") }
        var value: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("invalid hex digit \(describeByte()) in a \\u escape")
            }
            value = value << 4 | UInt16(digit)
            index += 1
        }
        return value
    }

    /// The string `utf8` holds, "" when only checking, nil when it is not valid UTF-8.
    private func validString(_ utf8: UnsafeBufferPointer<UInt8>) -> String? {
        guard keepsValues else {
            #if compiler(>=6.2)
            // Checks in place: no String is built.
            return (try? UTF8Span(validating: utf8.span)) != nil ? "" : nil
            #else
            return String(validating: utf8, as: UTF8.self) != nil ? "" : nil
            #endif
        }
        return String(validating: utf8, as: UTF8.self)
    }

    private mutating func parseNumber() throws(JSONParseError) -> JSONValue {
        let start = index
        if peek == UInt8(ascii: "-") { index += 1 }
        guard isDigit(peek) else { throw failure("invalid number", at: start) }
        if peek == UInt8(ascii: "0") {
            index += 1
            guard !isDigit(peek) else { throw failure("number with a leading zero", at: start) }
        } else {
            skipDigits()
        }
        var isInteger = true
        if peek == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            guard isDigit(peek) else { throw failure("expected a digit after '.'") }
            skipDigits()
        }
        if peek == UInt8(ascii: "e") || peek == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if peek == UInt8(ascii: "+") || peek == UInt8(ascii: "-") { index += 1 }
            guard isDigit(peek) else { throw failure("expected a digit in the exponent") }
            skipDigits()
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if isInteger, let value = Int(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else {
            throw failure("number \(text.prefix(20))\(text.count > 20 ? "…" : "") is out of range", at: start)
        }
        return .double(value)
    }

    private mutating func expect(_ literal: StaticString) throws(JSONParseError) {
        let start = index
        for expected in UnsafeBufferPointer(start: literal.utf8Start, count: literal.utf8CodeUnitCount) {
            guard peek == expected else { throw failure("invalid literal, expected \(literal)", at: start) }
            index += 1
        }
    }

    private var peek: UInt8? { index < bytes.count ? bytes[index] : nil }

    private func isDigit(_ byte: UInt8?) -> Bool {
        guard let byte else { return false }
        return byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")
    }

    private mutating func skipDigits() {
        while isDigit(peek) { index += 1 }
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    private func describeByte() -> String {
        guard let byte = peek else { return "end of data" }
        if (0x21...0x7E).contains(byte) { return "'\(Character(Unicode.Scalar(byte)))'" }
        return "byte 0x\(String(byte, radix: 16, uppercase: true))"
    }

    private func failure(_ reason: String, at offset: Int? = nil) -> JSONParseError {
        JSONParseError(reason: reason, offset: offset ?? index)
    }
}
