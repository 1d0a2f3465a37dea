// The upstream error-text cleaner: no piece of the function's own secrets survives, in any form
// the input quotes them in, and cleaning costs at most a fixed CPU time per KiB of input.
//
// The input is a small program that writes the text: literal bytes, pieces of the secrets raw,
// URL-encoded (once or twice), JSON-escaped or wrapped over lines, credential-shaped names, and
// repetitions that grow the text to megabytes.
import FuzzDriver
import Glibc
@testable import SageMakerRuntime

@_cdecl("FuzzErrorText_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { start, count in fuzzOne(UnsafeRawPointer(start) ?? UnsafeRawPointer(bitPattern: 1)!, count) }
}

private let token = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6hrbHyS0RwB3xOhpdn1NEVsnJ3cBpKv0VfUx7cUvsJvAIgUf8ygVbIo+"
    + "VAOGQqNVJH7vX3yLIO2wQ7l3dTrlBGHtcqlQMI8///////////ARAAGgw2MjE0OTkyMzM0NzgiDGiakVqfvDRU0+Kc3cPAQ/qhTn5XUCmq9ol7Ig=="
private let secretKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
private let accessKeyID = "ASIAQNZGKIQY56JQ7WML"
private let secrets = [accessKeyID, secretKey, token]
private let names = ["x-amz-security-token:", "X-Amz-Signature=", "Authorization: ", "Signature=", "%2F", "\\u002F", "\\", "%25", "\n"]
/// The most CPU time cleaning may take per KiB it cleans (at most `ErrorText.maximumBytes`, the
/// cap), plus a fixed allowance; generous for this unoptimised, sanitizer-instrumented build
/// (about 4 ms per KiB here). A cleaner that worked on the whole input, or rewrote the text per
/// match, runs through it long before the 1 MiB inputs this program writes.
private let nanosecondsPerKiB = 10_000_000
private let nanosecondsAtLeast = 20_000_000
private let largestText = 1024 * 1024

/// Every run of `secretPieceLength` characters of every secret.
private let pieces: Set<String> = {
    var pieces = Set<String>()
    for secret in secrets {
        let characters = Array(secret)
        for start in 0...(characters.count - ErrorText.secretPieceLength) {
            pieces.insert(String(characters[start..<(start + ErrorText.secretPieceLength)]))
        }
    }
    return pieces
}()

private func encoded(_ piece: Substring, form: UInt8) -> String {
    func percent(_ character: Character, twice: Bool, lower: Bool) -> String {
        let hex = String(character.asciiValue!, radix: 16, uppercase: !lower)
        return (twice ? "%25" : "%") + hex
    }
    var out = ""
    for (index, character) in piece.enumerated() {
        let special = character == "/" || character == "+" || character == "="
        switch form % 6 {
        case 1 where special: out += percent(character, twice: false, lower: false)
        case 2 where special: out += percent(character, twice: true, lower: true)
        case 3 where character == "/": out += "\\/"
        case 3 where special: out += "\\u00" + String(character.asciiValue!, radix: 16, uppercase: true)
        case 4 where index > 0 && index % 7 == 0: out += "\n  " + String(character)
        case 5 where index > 0 && index % 9 == 0: out += "\\n" + String(character)
        default: out.append(character)
        }
    }
    return out
}

/// The input as a program writing the text (see the top of the file).
private func text(from bytes: UnsafeRawBufferPointer) -> String {
    var text = ""
    var index = 0
    func next() -> Int {
        defer { index += 1 }
        return index < bytes.count ? Int(bytes[index]) : 0
    }
    while index < bytes.count, text.utf8.count < largestText {
        switch next() % 8 {
        case 0, 1, 2:
            let count = next() % 48
            guard index < bytes.count else { break }
            let end = min(bytes.count, index + count)
            text += String(decoding: UnsafeRawBufferPointer(rebasing: bytes[index..<end]), as: UTF8.self)
            index = end
        case 3, 4:
            let secret = secrets[next() % secrets.count]
            let start = next() * secret.count / 256
            let length = 16 + next() % 120
            let from = secret.index(secret.startIndex, offsetBy: start)
            let piece = secret[from...].prefix(length)
            guard piece.count >= ErrorText.secretPieceLength else { continue }
            text += encoded(piece, form: UInt8(next() % 256))
        case 5:
            text += names[next() % names.count]
        default:
            let times = 1 + next() % 64
            let unit = text.isEmpty ? "x" : text
            text = String(repeating: unit, count: min(times, max(1, largestText / max(unit.utf8.count, 1))))
        }
    }
    return text
}

/// The readings an eye or a decoder could take of the cleaned text.
private func readings(_ text: String) -> [[UInt8]] {
    let bytes = Array(text.utf8)
    func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case 0x30...0x39: byte - 0x30
        case 0x41...0x46: byte - 0x41 + 10
        case 0x61...0x66: byte - 0x61 + 10
        default: nil
        }
    }
    var percentDecoded: [UInt8] = []
    var index = 0
    while index < bytes.count {
        if bytes[index] == 0x25, index + 2 < bytes.count, let high = hex(bytes[index + 1]), let low = hex(bytes[index + 2]) {
            percentDecoded.append(high << 4 | low)
            index += 3
        } else {
            percentDecoded.append(bytes[index])
            index += 1
        }
    }
    var unescaped: [UInt8] = []
    index = 0
    while index < bytes.count {
        let byte = bytes[index]
        if byte == 0x5C, index + 5 < bytes.count, bytes[index + 1] == 0x75, let a = hex(bytes[index + 2]), let b = hex(bytes[index + 3]),
           let c = hex(bytes[index + 4]), let d = hex(bytes[index + 5]) {
            let value = Int(a) << 12 | Int(b) << 8 | Int(c) << 4 | Int(d)
            unescaped.append(value < 0x80 ? UInt8(value) : 0xFF)
            index += 6
        } else if byte == 0x5C, index + 1 < bytes.count, [0x6E, 0x72, 0x74].contains(bytes[index + 1]) {
            index += 2
        } else if byte == 0x5C || byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            index += 1
        } else {
            unescaped.append(byte)
            index += 1
        }
    }
    return [bytes, percentDecoded, unescaped]
}

private func cpuNanoseconds() -> Int {
    var now = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now)
    return now.tv_sec * 1_000_000_000 + now.tv_nsec
}

@_cdecl("LLVMFuzzerTestOneInput")
func fuzzOne(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let input = text(from: UnsafeRawBufferPointer(start: start, count: count))
    let began = cpuNanoseconds()
    let clean = ErrorText.withoutSecrets(input, secrets: secrets)
    let spent = cpuNanoseconds() - began
    let budget = nanosecondsAtLeast + nanosecondsPerKiB * min(input.utf8.count, ErrorText.maximumBytes) / 1024
    guard spent <= budget else {
        fatalError("cleaning \(input.utf8.count) bytes took \(spent / 1_000_000) ms of CPU, over \(budget / 1_000_000) ms")
    }
    // "[redacted]" may stand where fewer bytes stood (`Signature=a;`): at most 21 bytes for 12.
    guard clean.utf8.count <= ErrorText.maximumBytes * 2 else { fatalError("not capped: \(clean.utf8.count) bytes") }
    for reading in readings(clean) where reading.count >= ErrorText.secretPieceLength {
        for offset in 0...(reading.count - ErrorText.secretPieceLength) {
            let window = reading[offset..<(offset + ErrorText.secretPieceLength)]
            guard window.allSatisfy({ $0 < 0x80 }) else { continue }
            let piece = String(decoding: window, as: UTF8.self)
            if pieces.contains(piece) { fatalError("a piece of a secret survived: \(piece) in \(clean.prefix(400))") }
        }
    }
    return 0
}
