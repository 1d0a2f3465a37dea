import Foundation
import Testing
@testable import LambdaEvents

/// `Base64.decode` against Foundation's `Data(base64Encoded:)`, which the product used before:
/// the same answer on every input, but for the misplaced padding Foundation lets through.
@Suite struct Base64Tests {
    func ours(_ text: String) -> [UInt8]? {
        Array(text.utf8).withUnsafeBufferPointer(Base64.decode)
    }

    /// Foundation's answer, less what it accepts with padding where no encoder puts it (`====`
    /// is a zero byte to it, `QQ=A` two bytes, `QUJD=` three): an input counts as accepted only
    /// if encoding the result again gives the input back, character for character, but for the
    /// last one before the padding, whose unused low bits both decoders ignore.
    func foundation(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text) else { return nil }
        let original = Array(text.utf8), again = Array(data.base64EncodedString().utf8)
        guard again.count == original.count else { return nil }
        let last = original.lastIndex { $0 != UInt8(ascii: "=") }
        for index in original.indices where index != last && again[index] != original[index] { return nil }
        return Array(data)
    }

    @Test func rfc4648Vectors() {
        let vectors = ["": "", "Zg==": "f", "Zm8=": "fo", "Zm9v": "foo", "Zm9vYg==": "foob", "Zm9vYmE=": "fooba", "Zm9vYmFy": "foobar"]
        for (encoded, decoded) in vectors {
            #expect(ours(encoded) == Array(decoded.utf8), "\(encoded)")
        }
    }

    @Test func decodesWhatFoundationEncodes() {
        var generator = SplitMix64(seed: 1)
        for count in 0..<300 {
            let bytes = (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &generator) }
            let encoded = Data(bytes).base64EncodedString()
            #expect(ours(encoded) == bytes, "\(count) bytes")
        }
        // A body near Lambda's 6 MB limit, every byte value in it.
        let large = (0..<(4_500_000)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 >> 9) }
        #expect(ours(Data(large).base64EncodedString()) == large)
    }

    @Test func refusesWhatFoundationRefuses() {
        let inputs = [
            "=", "==", "===", "Q", "QQ", "QQ=", "QUJ", "QUJDQ", "QUJDQQ", "QUJDQQ=",  // lengths
            " QUJD", "QUJD ", "QU JD", "QUJD\n", "QU\tJD", "QUJD\r\n", "QUJD\0",  // whitespace, NUL
            "QUJ-", "QUJ_", "QU.D", "QUJD\u{7F}", "é===", "QUJDé=", "QUJD😀",  // outside the alphabet
            "Q===", "=QUJ", "Q=JD", "QQ==QQ==", "QQ==QUJD",  // padding too early
        ]
        for input in inputs {
            #expect(Data(base64Encoded: input) == nil, "Foundation took \(input.debugDescription)")
            #expect(ours(input) == nil, "\(input.debugDescription)")
        }
    }

    @Test func refusesMisplacedPaddingFoundationTakes() {
        // Foundation 6.3 decodes these (to [0], [65, 0], [65, 3], [65, 66, 67] twice); no encoder
        // writes them, and RFC 4648 allows `=` only as the last one or two characters.
        for input in ["====", "QQ=A", "QU=D", "QUJD=", "QUJD====", "QUJDQQ==="] {
            #expect(ours(input) == nil, "\(input.debugDescription)")
        }
    }

    @Test func ignoresUnusedLowBitsLikeFoundation() {
        #expect(Data(base64Encoded: "QR==") == Data([65]))
        #expect(ours("QR==") == [65])
        #expect(Data(base64Encoded: "QUJ=") == Data([65, 66]))
        #expect(ours("QUJ=") == [65, 66])
    }

    /// Garbage like the fuzzer's: short strings over the alphabet, padding and a few bytes that
    /// are not base64, and valid encodings with one byte changed, cut short or padded further.
    @Test func agreesWithFoundationOnGarbage() {
        let pieces: [String] = ["A", "Q", "z", "0", "9", "+", "/", "=", "==", " ", "\n", "-", "_", ".", "\0", "é", "😀"]
        var generator = SplitMix64(seed: 2)
        var inputs: [String] = []
        for _ in 0..<20_000 {
            let length = Int.random(in: 0...12, using: &generator)
            inputs.append((0..<length).map { _ in pieces.randomElement(using: &generator)! }.joined())
        }
        for count in 0..<12 {
            let valid = Data((0..<count).map { UInt8($0 * 37 & 0xFF) }).base64EncodedString()
            let bytes = Array(valid.utf8)
            for index in bytes.indices {
                for piece in pieces {
                    inputs.append(String(decoding: bytes[..<index], as: UTF8.self) + piece + String(decoding: bytes[(index + 1)...], as: UTF8.self))
                }
                inputs.append(String(decoding: bytes[..<index], as: UTF8.self))
            }
            inputs.append(valid + "=")
            inputs.append(valid + "====")
        }
        var accepted = 0
        for input in inputs {
            let expected = foundation(input)
            if expected != nil { accepted += 1 }
            #expect(ours(input) == expected, "\(input.debugDescription)")
        }
        // The comparison is only worth something if both sides of it occur often.
        #expect(accepted > 500)
        #expect(inputs.count - accepted > 500)
    }
}

/// Deterministic random numbers (SplitMix64), so a failure can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
