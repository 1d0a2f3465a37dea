/// The X-Ray trace header Lambda gives each invocation (`Lambda-Runtime-Trace-Id`, what other
/// runtimes expose as `_X_AMZN_TRACE_ID`): `Root=1-…;Parent=…;Sampled=1`.
public struct TraceHeader: Sendable, Equatable {
    /// `1-` + 8 hex digits of epoch seconds + `-` + 24 hex digits.
    public var root: String
    /// The id of the segment a subsegment of ours belongs under (Lambda's function segment).
    public var parent: String?
    public var sampled: Bool

    public init(root: String, parent: String?, sampled: Bool) {
        self.root = root
        self.parent = parent
        self.sampled = sampled
    }

    /// `nil` when there is no well-formed `Root`. Keys are case-sensitive as X-Ray writes them;
    /// unknown ones (`Lineage`, `Self`) are ignored. Read as bytes: this runs on every invocation.
    public init?(_ header: String) {
        var root: Substring.UTF8View?
        var parent: Substring.UTF8View?
        var sampled = false
        for field in header.utf8.split(separator: UInt8(ascii: ";")) {
            guard let equals = field.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let key = Self.trimmed(field[..<equals]), value = Self.trimmed(field[field.index(after: equals)...])
            if key.elementsEqual("Root".utf8) {
                root = value
            } else if key.elementsEqual("Parent".utf8) {
                parent = value
            } else if key.elementsEqual("Sampled".utf8) {
                sampled = value.elementsEqual("1".utf8)
            }
        }
        guard let root, Self.isTraceID(root) else { return nil }
        self.root = String(Substring(root))
        self.parent = parent.flatMap { Self.isSegmentID($0) ? String(Substring($0)) : nil }
        self.sampled = sampled
    }

    /// Whether a subsegment should be sent: the trace is sampled and has a parent to hang it on.
    public var wantsSubsegments: Bool { sampled && parent != nil }

    /// `1-`, 8 hex digits, `-`, 24 hex digits.
    static func isTraceID(_ text: Substring.UTF8View) -> Bool {
        guard text.count == 35 else { return false }
        for (offset, byte) in text.enumerated() {
            let fits = switch offset {
            case 0: byte == UInt8(ascii: "1")
            case 1, 10: byte == UInt8(ascii: "-")
            default: isHex(byte)
            }
            guard fits else { return false }
        }
        return true
    }

    static func isSegmentID(_ text: Substring.UTF8View) -> Bool {
        text.count == 16 && text.allSatisfy(isHex)
    }

    /// Lower-case, as X-Ray writes ids (and as its segment documents must carry them).
    private static func isHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    private static func trimmed(_ bytes: Substring.UTF8View) -> Substring.UTF8View {
        var bytes = bytes
        while bytes.first == UInt8(ascii: " ") { bytes.removeFirst() }
        while bytes.last == UInt8(ascii: " ") { bytes.removeLast() }
        return bytes
    }
}
