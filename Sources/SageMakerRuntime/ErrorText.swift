/// SageMaker's and the model's own words, made safe to pass on.
///
/// An AWS error message can quote the function's credentials: when a signature does not match,
/// AWS quotes the canonical request it expected, session token included; when a signature is
/// incomplete, it quotes the Authorization header (access key id and signature). It can also
/// identify the account: account ids, ARNs, console links, log group names.
///
/// `withoutSecrets` runs on every message as it is read (`SageMakerError.from`), so no
/// `SageMakerError` ever holds a credential, whoever prints it. `withoutAccountDetails` is for
/// callers outside the account, on what `withoutSecrets` left. Both work on ASCII shapes in linear
/// time, and `withoutSecrets` reads at most `maximumBytes`: an upstream that answers with
/// megabytes of text costs no more than 16 KiB of it.
public enum ErrorText {
    public static let redacted = "[redacted]"

    /// The most of an upstream text that is kept, cut before any cleaning. Answers quote 1 KiB
    /// of it and log lines 8 KiB, so nothing anyone reads is lost.
    public static let maximumBytes = 16 * 1024

    /// A run of this many characters of one of the function's own secrets is redacted wherever it
    /// is: a 16-character piece of a random token is no innocent word, and a token cut into
    /// pieces (URL-encoded, wrapped, quoted by halves) must not survive piece by piece.
    public static let secretPieceLength = 16

    /// AWS appends these, each followed by a quoted block, to a signature mismatch.
    static let signingDetailMarkers = ["The Canonical String for this request should have been", "The String-to-Sign should have been"]
    static let signingDetailNote = "(AWS's canonical request and string-to-sign are left out: they hold the session token)"

    /// `name:` or `name=` followed by a credential, as AWS quotes headers and Authorization parts.
    static let sensitiveNames = ["x-amz-security-token", "x-amz-signature", "x-amz-credential", "signature", "authorization"]

    /// What AWS access key ids start with (IAM's unique-id prefixes).
    static let accessKeyPrefixes = ["AKIA", "ASIA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "AIPA", "APKA", "ABIA", "ACCA"]

    /// `text` without credentials: cut to `maximumBytes`, the quoted canonical request and
    /// string-to-sign cut, every run of `secretPieceLength` characters of one of `secrets` (the
    /// function's own key id, secret key and session token) replaced, whether it stands raw,
    /// URL-encoded, JSON-escaped or wrapped over lines, and so is anything shaped like a
    /// credential: values of `x-amz-security-token`, `Signature` and `Authorization`, access key
    /// ids, long hex strings (signatures, hashes) and long base64 runs (session tokens).
    ///
    /// Every rule marks byte ranges of the text; the ranges are merged and the text is written
    /// once, so the cost is linear in the (capped) text whatever it holds.
    public static func withoutSecrets(_ text: String, secrets: [String] = []) -> String {
        let (capped, wasCut) = cappedBytes(text)
        var end = capped.count
        for marker in signingDetailMarkers {
            if let start = firstIndex(of: Array(marker.utf8), in: capped, before: end) { end = start }
        }
        let bytes = capped[..<end]
        var ranges = SecretPieces(secrets).ranges(in: bytes)
        ranges += namedValueRanges(in: bytes)
        ranges += credentialShapedRanges(in: bytes, cutAtEnd: wasCut && end == capped.count)
        var output = replacing(merged(ranges), in: bytes)
        if end < capped.count {
            output += signingDetailNote.utf8
        } else if wasCut {
            output += cutMarker.utf8
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// `text` without what identifies the account, for callers outside it: account ids (any run of
    /// exactly twelve digits), ARNs, links (console URLs name the account and its log groups) and
    /// log group paths. Everything else, the model's own complaint included, stays.
    public static func withoutAccountDetails(_ text: String) -> String {
        var output: [UInt8] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            guard !isDelimiter(bytes[index]) else {
                output.append(bytes[index])
                index += 1
                continue
            }
            var end = index
            while end < bytes.count, !isDelimiter(bytes[end]) { end += 1 }
            let token = bytes[index..<end]
            if token.starts(with: "arn:".utf8) {
                output += "[arn]".utf8
            } else if token.starts(with: "https://".utf8) || token.starts(with: "http://".utf8) {
                output += "[link]".utf8
            } else if token.starts(with: "/aws/".utf8) {
                output += "[log group]".utf8
            } else {
                output += replacingAccountIDs(token)
            }
            index = end
        }
        return String(decoding: output, as: UTF8.self)
    }

    // MARK: Helpers

    /// What is added where `withoutSecrets` cut a text at `maximumBytes`.
    static let cutMarker = " […]"

    /// The first `maximumBytes` of `text`, cut at a character boundary; whether anything was cut.
    private static func cappedBytes(_ text: String) -> ([UInt8], Bool) {
        let utf8 = text.utf8
        guard utf8.count > maximumBytes else { return (Array(utf8), false) }
        var bytes = Array(utf8.prefix(maximumBytes))
        // Back to the start of the scalar the cut fell in (UTF-8 continuation bytes are 10xxxxxx).
        if utf8.dropFirst(maximumBytes).first.map({ $0 & 0xC0 == 0x80 }) == true {
            while let last = bytes.last, last & 0xC0 == 0x80 { bytes.removeLast() }
            if !bytes.isEmpty { bytes.removeLast() }
        }
        return (bytes, true)
    }

    /// Where `needle` (a short fixed marker) first starts in `bytes[..<end]`.
    private static func firstIndex(of needle: [UInt8], in bytes: [UInt8], before end: Int) -> Int? {
        guard let first = needle.first, end >= needle.count else { return nil }
        var index = 0
        while index + needle.count <= end {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
    }

    /// `ranges` sorted and overlapping ones joined.
    private static func merged(_ ranges: [Range<Int>]) -> [Range<Int>] {
        var result: [Range<Int>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) where !range.isEmpty {
            if let last = result.last, range.lowerBound < last.upperBound {
                result[result.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
            } else {
                result.append(range)
            }
        }
        return result
    }

    /// `bytes` with each of `ranges` (sorted, disjoint) replaced by `redacted`.
    private static func replacing(_ ranges: [Range<Int>], in bytes: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        for range in ranges {
            output += bytes[index..<range.lowerBound]
            output += redacted.utf8
            index = range.upperBound
        }
        output += bytes[index...]
        return output
    }

    /// Where a quoted value or a word ends.
    private static func isDelimiter(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: "\""), UInt8(ascii: "'"), UInt8(ascii: ","), UInt8(ascii: ";"),
             UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "["), UInt8(ascii: "]"), UInt8(ascii: "{"),
             UInt8(ascii: "}"), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "\\"):
            true
        default:
            false
        }
    }

    private static func lowered(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }

    private static func isWordByte(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte)
    }

    private static func isBase64(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
    }

    /// `name:` / `name=` (any case, at a word boundary, spaces allowed after the separator):
    /// the value up to the next delimiter.
    private static func namedValueRanges(in bytes: ArraySlice<UInt8>) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for name in sensitiveNames {
            let pattern = Array(name.utf8)
            var index = bytes.startIndex
            while index + pattern.count < bytes.endIndex {
                let atBoundary = index == bytes.startIndex || !isWordByte(bytes[index - 1])
                guard atBoundary, (0..<pattern.count).allSatisfy({ lowered(bytes[index + $0]) == pattern[$0] }),
                      bytes[index + pattern.count] == UInt8(ascii: ":") || bytes[index + pattern.count] == UInt8(ascii: "=")
                else {
                    index += 1
                    continue
                }
                var valueStart = index + pattern.count + 1
                while valueStart < bytes.endIndex, bytes[valueStart] == 0x20 { valueStart += 1 }
                var valueEnd = valueStart
                while valueEnd < bytes.endIndex, !isDelimiter(bytes[valueEnd]) { valueEnd += 1 }
                if valueEnd > valueStart { ranges.append(valueStart..<valueEnd) }
                index = max(valueEnd, index + 1)
            }
        }
        return ranges
    }

    /// Base64 runs of 64 characters or more (session tokens, and hex signatures, which are a
    /// subset) go whole, and so does a run of 16 or more that the cap cut off (how long it was
    /// is unknown); inside shorter runs, hex strings of 40 or more and access key ids go.
    private static func credentialShapedRanges(in bytes: ArraySlice<UInt8>, cutAtEnd: Bool) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var index = bytes.startIndex
        while index < bytes.endIndex {
            guard isBase64(bytes[index]) else {
                index += 1
                continue
            }
            var end = index
            while end < bytes.endIndex, isBase64(bytes[end]) { end += 1 }
            if end - index >= 64 || (cutAtEnd && end == bytes.endIndex && end - index >= secretPieceLength) {
                ranges.append(index..<end)
            } else {
                ranges += rangesInside(bytes[index..<end])
            }
            index = end
        }
        return ranges
    }

    /// Within a base64 run shorter than 64: hex strings of 40 or more and access key ids.
    private static func rangesInside(_ run: ArraySlice<UInt8>) -> [Range<Int>] {
        func isHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte) }
        func isKeyByte(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) }
        var ranges: [Range<Int>] = []
        var index = run.startIndex
        while index < run.endIndex {
            var hexEnd = index
            while hexEnd < run.endIndex, isHex(run[hexEnd]) { hexEnd += 1 }
            if hexEnd - index >= 40 {
                ranges.append(index..<hexEnd)
                index = hexEnd
                continue
            }
            var keyEnd = index
            while keyEnd < run.endIndex, isKeyByte(run[keyEnd]) { keyEnd += 1 }
            let startsWord = index == run.startIndex || !isKeyByte(run[index - 1])
            if startsWord, keyEnd - index == 20, accessKeyPrefixes.contains(where: { run[index...].starts(with: $0.utf8) }) {
                ranges.append(index..<keyEnd)
                index = keyEnd
                continue
            }
            index += 1
        }
        return ranges
    }

    /// Runs of exactly twelve digits become `[account]`.
    private static func replacingAccountIDs(_ token: ArraySlice<UInt8>) -> [UInt8] {
        var output: [UInt8] = []
        var index = token.startIndex
        while index < token.endIndex {
            var end = index
            while end < token.endIndex, (0x30...0x39).contains(token[end]) { end += 1 }
            if end - index == 12 {
                output += "[account]".utf8
                index = end
            } else if end > index {
                output += token[index..<end]
                index = end
            } else {
                output.append(token[index])
                index += 1
            }
        }
        return output
    }
}

/// Finds pieces of the function's own secrets in a text, whatever form they were quoted in.
///
/// The text is searched twice: as it stands, and read as the characters it stands for: `%2F` (and `%252F`, encoded twice)
/// is `/`, `\/` and `\u002F` are `/`, and whitespace, a JSON `\n`, `\r` or `\t` and stray
/// backslashes stand for nothing, since a wrapped or quoted token has them between its pieces.
/// Each character remembers the bytes it came from. (The first search is for a piece that the
/// reading would swallow the start of: `%` or `\` just before a token piece that starts with
/// hex digits or `n`.) Then every window of `secretPieceLength`
/// characters is looked up among the windows of the secrets (shorter secrets: the whole secret),
/// each lookup one hash of 16 bytes: linear in the text, whatever it holds.
struct SecretPieces {
    /// Up to 16 bytes, exactly: no hash collision can make a piece look like a secret.
    private struct Window: Hashable {
        var high: UInt64 = 0
        var low: UInt64 = 0

        mutating func push(_ byte: UInt8) {
            high = high << 8 | low >> 56
            low = low << 8 | UInt64(byte)
        }

        func masked(to length: Int) -> Window {
            switch length {
            case 16...: self
            case 8...: Window(high: length == 8 ? 0 : high & (UInt64.max >> (64 - 8 * (length - 8))), low: low)
            default: Window(high: 0, low: low & (UInt64.max >> (64 - 8 * length)))
            }
        }
    }

    /// Window length → the windows of that length of every secret.
    private var windows: [Int: Set<Window>] = [:]

    /// Secrets shorter than 8 characters are not looked for: too many innocent words match.
    init(_ secrets: [String]) {
        for secret in secrets where secret.utf8.count >= 8 {
            let length = min(ErrorText.secretPieceLength, secret.utf8.count)
            var window = Window()
            var seen = 0
            for byte in secret.utf8 {
                window.push(byte)
                seen += 1
                if seen >= length { windows[length, default: []].insert(window.masked(to: length)) }
            }
        }
    }

    /// The byte ranges of `text` that hold a piece of a secret (sorted by start; may overlap).
    func ranges(in text: ArraySlice<UInt8>) -> [Range<Int>] {
        guard !windows.isEmpty else { return [] }
        var ranges: [Range<Int>] = []
        for decoded in [Self.asItStands(text), Self.decode(text)] {
            ranges += Self.ranges(in: decoded, windows)
        }
        return ranges
    }

    private static func ranges(in decoded: (bytes: [UInt8], starts: [Int], ends: [Int]), _ windows: [Int: Set<Window>]) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        for (length, set) in windows {
            var window = Window()
            for (index, byte) in decoded.bytes.enumerated() {
                window.push(byte)
                guard index + 1 >= length, set.contains(window.masked(to: length)) else { continue }
                let first = index + 1 - length
                let range = decoded.starts[first]..<decoded.ends[index]
                if let last = ranges.last, last.upperBound >= range.lowerBound, last.lowerBound <= range.lowerBound {
                    ranges[ranges.count - 1] = last.lowerBound..<max(last.upperBound, range.upperBound)
                } else {
                    ranges.append(range)
                }
            }
        }
        return ranges
    }

    private static func asItStands(_ text: ArraySlice<UInt8>) -> (bytes: [UInt8], starts: [Int], ends: [Int]) {
        (Array(text), Array(text.indices), Array(text.indices.map { $0 + 1 }))
    }

    /// The characters `text` stands for, each with the range of bytes it was written as.
    static func decode(_ text: ArraySlice<UInt8>) -> (bytes: [UInt8], starts: [Int], ends: [Int]) {
        var bytes: [UInt8] = []
        var starts: [Int] = []
        var ends: [Int] = []
        bytes.reserveCapacity(text.count)
        starts.reserveCapacity(text.count)
        ends.reserveCapacity(text.count)
        func hexValue(_ at: Int) -> UInt8? {
            guard at < text.endIndex else { return nil }
            switch text[at] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return text[at] - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return text[at] - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return text[at] - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        func hexByte(_ at: Int) -> UInt8? {
            guard let high = hexValue(at), let low = hexValue(at + 1) else { return nil }
            return high << 4 | low
        }
        var index = text.startIndex
        while index < text.endIndex {
            let byte = text[index]
            var character: UInt8? = byte
            var length = 1
            switch byte {
            case UInt8(ascii: "%"):
                if hexByte(index + 1) == 0x25, let twice = hexByte(index + 3) {
                    (character, length) = (twice, 5)
                } else if let once = hexByte(index + 1) {
                    (character, length) = (once, 3)
                }
            case UInt8(ascii: "\\"):
                let next = index + 1 < text.endIndex ? text[index + 1] : 0
                if next == UInt8(ascii: "u"), let high = hexByte(index + 2), let low = hexByte(index + 4) {
                    // Non-ASCII is never part of a secret: a character that matches nothing.
                    (character, length) = (high == 0 && low < 0x80 ? low : 0xFF, 6)
                } else if next == UInt8(ascii: "n") || next == UInt8(ascii: "r") || next == UInt8(ascii: "t") {
                    (character, length) = (nil, 2)
                } else {
                    character = nil
                }
            case 0x20, 0x09, 0x0A, 0x0D:
                character = nil
            default:
                break
            }
            if let character {
                bytes.append(character)
                starts.append(index)
                ends.append(index + length)
            }
            index += length
        }
        return (bytes, starts, ends)
    }
}
