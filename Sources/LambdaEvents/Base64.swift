/// Standard base64 (RFC 4648 section 4: `A-Z a-z 0-9 + /`, padded with `=` to a multiple of four
/// characters), decoded strictly: what the fronts send with `isBase64Encoded`.
///
/// Written here rather than taken from Foundation's `Data(base64Encoded:)`: that one call was
/// the last use of Foundation, which cost the binary 6 MB. It accepts what Foundation accepts
/// by default (`Base64Tests` holds the two side by side) except a few shapes of misplaced
/// padding Foundation lets through (`====`, `QQ=A`, `QUJD=`), which no encoder writes.
enum Base64 {
    /// The bytes `encoded` stands for, or `nil` when it is not padded base64: a length that is
    /// not a multiple of four, a byte outside the alphabet (whitespace included), or `=` anywhere
    /// but as the last one or two characters. As with Foundation (and RFC 4648 allows it), the
    /// bits the last character has beyond the last byte need not be zero: `QR==` is `A` like `QQ==`.
    static func decode(_ encoded: UnsafeBufferPointer<UInt8>) -> [UInt8]? {
        let count = encoded.count
        guard count % 4 == 0 else { return nil }
        guard count > 0 else { return [] }
        let padding = encoded[count - 1] != equals ? 0 : encoded[count - 2] != equals ? 1 : 2
        let length = count / 4 * 3 - padding
        var valid = true
        let bytes = sextets.withUnsafeBufferPointer { sextets in
            [UInt8](unsafeUninitializedCapacity: length) { output, initialized in
                var out = 0
                var index = 0
                // Every quad but the last gives three bytes; `=` is outside the alphabet here.
                while index < count - 4 {
                    let a = sextets[Int(encoded[index])], b = sextets[Int(encoded[index + 1])]
                    let c = sextets[Int(encoded[index + 2])], d = sextets[Int(encoded[index + 3])]
                    guard (a | b | c | d) & invalid == 0 else { valid = false; return }
                    output[out] = a << 2 | b >> 4
                    output[out + 1] = b << 4 | c >> 2
                    output[out + 2] = c << 6 | d
                    out += 3
                    index += 4
                }
                // The last quad: its padding stands for sextets of zero and for bytes not there.
                let a = sextets[Int(encoded[index])], b = sextets[Int(encoded[index + 1])]
                let c = padding < 2 ? sextets[Int(encoded[index + 2])] : 0
                let d = padding < 1 ? sextets[Int(encoded[index + 3])] : 0
                guard (a | b | c | d) & invalid == 0 else { valid = false; return }
                output[out] = a << 2 | b >> 4
                if padding < 2 { output[out + 1] = b << 4 | c >> 2 }
                if padding < 1 { output[out + 2] = c << 6 | d }
                initialized = length
            }
        }
        return valid ? bytes : nil
    }

    private static let equals = UInt8(ascii: "=")

    /// What a byte outside the alphabet stands for in `sextets`: a bit no sextet has.
    private static let invalid: UInt8 = 0x80

    /// Each byte's six bits, or `invalid`. A table, not a `switch`: a 6 MB body decodes in about
    /// 3 ms against 7 (Foundation's takes 2.3). Built on the first base64 body, not at start.
    private static let sextets: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (value, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(value)
        }
        return table
    }()
}
