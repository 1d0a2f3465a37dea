extension String {
    /// What is added where a text was cut.
    public static let cutMarker = " […]"

    /// The text, cut at a character boundary so that written as a JSON string (without its
    /// quotes) it takes at most `limit` bytes, `cutMarker` included. Text from outside (an
    /// upstream's error message, say) is capped this way before it goes into an answer or a log
    /// line, so a huge or hostile message cannot make either huge.
    public func cappedForJSON(_ limit: Int) -> String {
        // Escaping at most sextuples a byte (a control character becomes \u00XX).
        if utf8.count * 6 <= limit { return self }
        let budget = limit - Self.cutMarker.utf8.count
        var used = 0
        var cut: String.Index?
        for index in indices {
            let cost = self[index].unicodeScalars.reduce(0) { $0 + Self.escapedLength($1) }
            if cut == nil, used + cost > budget { cut = index }
            used += cost
            // Past the limit the cut point is known: it was found when the budget ran out.
            if used > limit, let cut { return String(self[..<cut]) + Self.cutMarker }
        }
        return self
    }

    private static func escapedLength(_ scalar: Unicode.Scalar) -> Int {
        switch scalar {
        case "\"", "\\", "\n", "\r", "\t": 2
        case _ where scalar.value < 0x20 || scalar.value == 0x7F: 6
        default: scalar.utf8.count
        }
    }
}
