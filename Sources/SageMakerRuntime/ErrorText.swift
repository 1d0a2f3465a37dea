/// SageMaker's and the model's own words, made safe to pass on.
///
/// An AWS error message can quote the function's credentials: when a signature does not match,
/// AWS quotes the canonical request it expected, session token included; when a signature is
/// incomplete, it quotes the Authorization header (access key id and signature). It can also
/// identify the account: account ids, ARNs, console links, log group names.
///
/// `withoutSecrets` runs on every message as it is read (`SageMakerError.from`), so no
/// `SageMakerError` ever holds a credential, whoever prints it. `withoutAccountDetails` is for
/// callers outside the account. Both work on ASCII shapes, so they cost nothing on the success
/// path and little on an error.
public enum ErrorText {
    public static let redacted = "[redacted]"

    /// AWS appends these, each followed by a quoted block, to a signature mismatch.
    static let signingDetailMarkers = ["The Canonical String for this request should have been", "The String-to-Sign should have been"]
    static let signingDetailNote = "(AWS's canonical request and string-to-sign are left out: they hold the session token)"

    /// `name:` or `name=` followed by a credential, as AWS quotes headers and Authorization parts.
    static let sensitiveNames = ["x-amz-security-token", "x-amz-signature", "x-amz-credential", "signature", "authorization"]

    /// What AWS access key ids start with (IAM's unique-id prefixes).
    static let accessKeyPrefixes = ["AKIA", "ASIA", "AIDA", "AROA", "AGPA", "ANPA", "ANVA", "AIPA", "APKA", "ABIA", "ACCA"]

    /// `text` without credentials: the quoted canonical request and string-to-sign are cut, each
    /// of `secrets` (the function's own key id, secret key and session token) is replaced, and so
    /// is anything shaped like one: values of `x-amz-security-token`, `Signature` and
    /// `Authorization`, access key ids, long hex strings (signatures, hashes) and long base64 runs
    /// (session tokens).
    public static func withoutSecrets(_ text: String, secrets: [String] = []) -> String {
        var bytes = Array(text.utf8)
        for marker in signingDetailMarkers {
            if let start = firstIndex(of: Array(marker.utf8), in: bytes, from: 0) {
                bytes.replaceSubrange(start..., with: signingDetailNote.utf8)
            }
        }
        // Short values are not worth a search that could also hit innocent words.
        for secret in secrets where secret.utf8.count >= 8 {
            let needle = Array(secret.utf8)
            var from = 0
            while let start = firstIndex(of: needle, in: bytes, from: from) {
                bytes.replaceSubrange(start..<(start + needle.count), with: redacted.utf8)
                from = start + redacted.utf8.count
            }
        }
        redactNamedValues(&bytes)
        redactCredentialShapedRuns(&bytes)
        return String(decoding: bytes, as: UTF8.self)
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

    private static func firstIndex(of needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard let first = needle.first, bytes.count - start >= needle.count else { return nil }
        var index = start
        while index + needle.count <= bytes.count {
            if bytes[index] == first, bytes[index..<(index + needle.count)].elementsEqual(needle) { return index }
            index += 1
        }
        return nil
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
    /// the value up to the next delimiter is replaced.
    private static func redactNamedValues(_ bytes: inout [UInt8]) {
        for name in sensitiveNames {
            let pattern = Array(name.utf8)
            var index = 0
            while index + pattern.count < bytes.count {
                let atBoundary = index == 0 || !isWordByte(bytes[index - 1])
                guard atBoundary, (0..<pattern.count).allSatisfy({ lowered(bytes[index + $0]) == pattern[$0] }) else {
                    index += 1
                    continue
                }
                var valueStart = index + pattern.count
                guard bytes[valueStart] == UInt8(ascii: ":") || bytes[valueStart] == UInt8(ascii: "=") else {
                    index += 1
                    continue
                }
                valueStart += 1
                while valueStart < bytes.count, bytes[valueStart] == 0x20 { valueStart += 1 }
                var valueEnd = valueStart
                while valueEnd < bytes.count, !isDelimiter(bytes[valueEnd]) { valueEnd += 1 }
                if valueEnd > valueStart {
                    bytes.replaceSubrange(valueStart..<valueEnd, with: redacted.utf8)
                }
                index = valueStart + (valueEnd > valueStart ? redacted.utf8.count : 0)
            }
        }
    }

    /// Base64 runs of 64 characters or more (session tokens, and hex signatures, which are a
    /// subset) go whole; inside shorter runs, hex strings of 40 or more and access key ids go.
    private static func redactCredentialShapedRuns(_ bytes: inout [UInt8]) {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            guard isBase64(bytes[index]) else {
                output.append(bytes[index])
                index += 1
                continue
            }
            var end = index
            while end < bytes.count, isBase64(bytes[end]) { end += 1 }
            if end - index >= 64 {
                output += redacted.utf8
            } else {
                output += redactingInside(bytes[index..<end])
            }
            index = end
        }
        bytes = output
    }

    private static func redactingInside(_ run: ArraySlice<UInt8>) -> [UInt8] {
        func isHex(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x61...0x66).contains(byte) || (0x41...0x46).contains(byte) }
        func isKeyByte(_ byte: UInt8) -> Bool { (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) }
        var output: [UInt8] = []
        var index = run.startIndex
        while index < run.endIndex {
            var hexEnd = index
            while hexEnd < run.endIndex, isHex(run[hexEnd]) { hexEnd += 1 }
            if hexEnd - index >= 40 {
                output += redacted.utf8
                index = hexEnd
                continue
            }
            var keyEnd = index
            while keyEnd < run.endIndex, isKeyByte(run[keyEnd]) { keyEnd += 1 }
            let startsWord = index == run.startIndex || !isKeyByte(run[index - 1])
            if startsWord, keyEnd - index == 20, accessKeyPrefixes.contains(where: { run[index...].starts(with: $0.utf8) }) {
                output += redacted.utf8
                index = keyEnd
                continue
            }
            output.append(run[index])
            index += 1
        }
        return output
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
