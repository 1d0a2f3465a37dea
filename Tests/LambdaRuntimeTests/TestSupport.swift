import Foundation
import TestHTTPServer
@testable import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif

/// Strings that break hand-made JSON: quotes, backslashes, every C0 control character, DEL,
/// emoji (multi-scalar graphemes included), non-ASCII scripts, canonically-equivalent pairs.
let nastyStrings: [String] = [
    "plain",
    "",
    #"He said "hi" and left"#,
    #"back\slash, double \\ and a literal \n that is not a newline"#,
    String(String.UnicodeScalarView((0..<0x20).map { Unicode.Scalar(UInt8($0)) })),
    "tab\there\nnewline\r\ncrlf\u{0}nul\u{7F}del\u{1B}[31mansi\u{8}backspace\u{C}formfeed",
    "emoji 🧪 family 👩‍👩‍👧‍👦 flag 🇳🇱 thumbs 👍🏽",
    "naïve café Ωμέγα 日本語 Привет עברית العربية",
    "precomposed \u{E9} vs decomposed e\u{301}",
    "separators \u{2028} \u{2029} bom \u{FEFF} nbsp \u{A0} c1 \u{85}\u{9F}",
    "</script><!-- & ' / -->",
    #"{"json": [1, 2, {"nested": "\u0041"}]}"#,
    "\u{10FFFF} highest scalar, \u{FFFD} replacement character",
    "\"\\\"\\\\\"",
]

/// Scalar-by-scalar equality: `String ==` treats canonically-equivalent text as equal, which would
/// hide an encoder that normalises.
func sameScalars(_ lhs: String?, _ rhs: String) -> Bool {
    guard let lhs else { return false }
    return Array(lhs.unicodeScalars) == Array(rhs.unicodeScalars)
}

/// A pipe whose write end a `Logger` writes to; `finish()` closes it and returns what was written.
/// Only for small amounts of output: nothing reads the pipe before `finish()`.
final class LogCapture {
    let writeFD: Int32
    private let readFD: Int32
    private var writeClosed = false
    private var readClosed = false

    init() throws {
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw TestServerError(description: "pipe: errno \(errno)") }
        readFD = fds[0]
        writeFD = fds[1]
    }

    func finish() -> String {
        if !writeClosed {
            close(writeFD)
            writeClosed = true
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !readClosed {
            let count = buffer.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: buffer[0..<count])
            } else if count < 0 && errno == EINTR {
                continue
            } else {
                close(readFD)
                readClosed = true
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The lines written, without their trailing newlines.
    func finishLines() -> [String] {
        let text = finish()
        // Split on the byte: as Characters, "\r\n" is one grapheme and would not split on "\n".
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .map { String(decoding: Array($0), as: UTF8.self) }
        if lines.last == "" { lines.removeLast() }
        return lines
    }

    deinit {
        if !writeClosed { close(writeFD) }
        if !readClosed { close(readFD) }
    }
}

/// Parses one JSON object, failing the test (by throwing) if it is not one.
func jsonObject(_ bytes: [UInt8]) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
        throw TestServerError(description: "not a JSON object: \(String(decoding: bytes, as: UTF8.self))")
    }
    return object
}

func jsonObject(_ text: String) throws -> [String: Any] {
    try jsonObject(Array(text.utf8))
}

/// `/next` retries for tests whose Runtime API ends the loop by failing `/next` for good: the
/// process gives up after 100 ms instead of the production window of seconds.
let quickRetry = NextRetryPolicy(baseMilliseconds: 5, capMilliseconds: 20, windowMilliseconds: 100, minimumAttempts: 2)

/// The requests up to the first `/next` of the run that ended the loop: the `/next` requests
/// after it are its retries.
func withoutRetries(_ requests: [RecordedRequest]) -> [RecordedRequest] {
    var end = requests.count
    while end >= 2, requests[end - 1].method == "GET", requests[end - 2].method == "GET" { end -= 1 }
    return Array(requests[..<end])
}
