/// Any JSON value, for the parts of a payload that are passed on without being interpreted
/// (generation parameters this function does not know about).
public enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([JSONKey: JSONValue])

    /// How the value's type reads in an error message.
    public var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int, .double: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[JSONKey(key)] }
        return nil
    }

    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    public var objectValue: [JSONKey: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }
}

/// An object member's name. RFC 8259 compares names by their code points, and so does every
/// other JSON implementation the payload meets (the model's Python `json` among them); Swift's
/// `String` compares by canonical equivalence, which would make `"café"` and `"cafe\u{301}"`
/// one member. Names compare and hash by their UTF-8 bytes instead.
public struct JSONKey: Hashable, Comparable, Sendable, ExpressibleByStringLiteral, CustomStringConvertible {
    public let text: String

    public init(_ text: String) { self.text = text }
    public init(stringLiteral text: String) { self.text = text }

    public var description: String { text }

    public static func == (lhs: JSONKey, rhs: JSONKey) -> Bool {
        lhs.text.utf8.elementsEqual(rhs.text.utf8)
    }

    public func hash(into hasher: inout Hasher) {
        var text = text
        text.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// Byte order, which for UTF-8 is code point order: what sorted keys are sorted by.
    public static func < (lhs: JSONKey, rhs: JSONKey) -> Bool {
        lhs.text.utf8.lexicographicallyPrecedes(rhs.text.utf8)
    }
}
