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
    /// unknown ones (`Lineage`, `Self`) are ignored.
    public init?(_ header: String) {
        var root: String?
        var parent: String?
        var sampled = false
        for field in header.split(separator: ";") {
            let pair = field.split(separator: "=", maxSplits: 1)
            guard pair.count == 2 else { continue }
            let key = pair[0].trimmingSpaces, value = pair[1].trimmingSpaces
            switch key {
            case "Root": root = value
            case "Parent": parent = value
            case "Sampled": sampled = value == "1"
            default: break
            }
        }
        guard let root, Self.isTraceID(root) else { return nil }
        self.root = root
        self.parent = parent.flatMap { Self.isSegmentID($0) ? $0 : nil }
        self.sampled = sampled
    }

    /// Whether a subsegment should be sent: the trace is sampled and has a parent to hang it on.
    public var wantsSubsegments: Bool { sampled && parent != nil }

    static func isTraceID(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == "1" && parts[1].count == 8 && parts[2].count == 24
            && parts[1].allSatisfy(\.isHexDigit) && parts[2].allSatisfy(\.isHexDigit)
    }

    static func isSegmentID(_ text: String) -> Bool {
        text.utf8.count == 16 && text.allSatisfy(\.isHexDigit)
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}
