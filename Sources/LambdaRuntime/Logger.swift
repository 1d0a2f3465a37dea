import JSON

#if canImport(Glibc)
import Glibc
#endif

/// Log lines for CloudWatch, each written whole under a lock that every copy of the logger shares,
/// so lines from concurrent workers never interleave (a pipe keeps a `write(2)` in one piece only
/// up to 4 KiB).
///
/// Follows Lambda's advanced logging controls: `AWS_LAMBDA_LOG_FORMAT` (`Text` or `JSON`) and
/// `AWS_LAMBDA_LOG_LEVEL` (`TRACE` … `FATAL`, default `INFO`).
public struct Logger: Sendable {
    public enum Level: Int, Sendable, Comparable, CaseIterable {
        case trace, debug, info, warn, error, fatal

        public var name: String {
            switch self {
            case .trace: "TRACE"
            case .debug: "DEBUG"
            case .info: "INFO"
            case .warn: "WARN"
            case .error: "ERROR"
            case .fatal: "FATAL"
            }
        }

        public init?(name: String) {
            guard let level = Level.allCases.first(where: { $0.name == name.uppercased() }) else { return nil }
            self = level
        }

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }
    }

    public enum Format: Sendable {
        case text
        case json
    }

    public enum Value: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
        case string(String)
        case int(Int)
        case double(Double)

        public init(stringLiteral value: String) { self = .string(value) }
        public init(integerLiteral value: Int) { self = .int(value) }
    }

    public var minimumLevel: Level
    public var format: Format
    private let fileDescriptor: Int32
    /// Shared by every copy of this logger: one line at a time.
    private let writing = Lock(())

    /// The most a message, or a string field, takes in a line once escaped; longer ones are cut.
    /// A line stays well inside CloudWatch's 256 KB event limit, whatever an upstream said.
    public static let maximumTextBytes = 8 * 1024

    public init(minimumLevel: Level = .info, format: Format = .text, fileDescriptor: Int32 = 2) {
        self.minimumLevel = minimumLevel
        self.format = format
        self.fileDescriptor = fileDescriptor
    }

    public static func fromEnvironment(_ environment: [String: String]) -> Logger {
        let format: Format = environment["AWS_LAMBDA_LOG_FORMAT"]?.uppercased() == "JSON" ? .json : .text
        let level = environment["AWS_LAMBDA_LOG_LEVEL"].flatMap(Level.init(name:)) ?? .info
        return Logger(minimumLevel: level, format: format)
    }

    public func isEnabled(_ level: Level) -> Bool { level >= minimumLevel }

    public func log(
        _ level: Level, _ message: @autoclosure () -> String, requestID: String? = nil,
        _ fields: KeyValuePairs<String, Value> = [:]
    ) {
        guard isEnabled(level) else { return }
        let message = message().cappedForJSON(Self.maximumTextBytes)
        var line = format == .json
            ? Self.jsonLine(level: level, message: message, requestID: requestID, fields: fields)
            : Self.textLine(level: level, message: message, requestID: requestID, fields: fields)
        line.append("\n")
        line.withUTF8 { bytes in
            writing.withLock { _ in write(bytes) }
        }
    }

    private func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written <= 0 { if errno == EINTR { continue } else { return } }
            offset += written
        }
    }

    /// One line per event: CloudWatch splits a text log event at every newline, so messages
    /// and values with line breaks or other control characters are escaped.
    static func textLine(level: Level, message: String, requestID: String?, fields: KeyValuePairs<String, Value>) -> String {
        var line = "[\(level.name)]"
        if let requestID { line += "\t" + LogText.escaped(requestID) }
        line += "\t" + LogText.escaped(message)
        for (key, value) in fields {
            switch value {
            case .string(let text):
                let text = text.cappedForJSON(maximumTextBytes)
                line += " \(key)=\(LogText.needsQuoting(text, forValue: true) ? LogText.quoted(text) : text)"
            case .int(let number): line += " \(key)=\(number)"
            case .double(let number): line += " \(key)=\(LogText.number(number))"
            }
        }
        return line
    }

    static func jsonLine(level: Level, message: String, requestID: String?, fields: KeyValuePairs<String, Value>) -> String {
        var line = "{\"timestamp\":\(Self.timestamp().jsonQuoted),\"level\":\"\(level.name)\""
        if let requestID { line += ",\"requestId\":\(LogText.quoted(requestID))" }
        line += ",\"message\":\(LogText.quoted(message))"
        for (key, value) in fields {
            line += ",\(LogText.quoted(key)):"
            switch value {
            case .string(let text): line += LogText.quoted(text.cappedForJSON(maximumTextBytes))
            case .int(let number): line += String(number)
            case .double(let number): line += LogText.number(number)
            }
        }
        return line + "}"
    }

    /// ISO 8601 UTC with milliseconds, as Lambda's own JSON logs have it.
    static func timestamp() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        var parts = tm()
        var seconds = spec.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        return "\(pad(Int(parts.tm_year) + 1900, 4))-\(pad(Int(parts.tm_mon) + 1, 2))-\(pad(Int(parts.tm_mday), 2))T"
            + "\(pad(Int(parts.tm_hour), 2)):\(pad(Int(parts.tm_min), 2)):\(pad(Int(parts.tm_sec), 2))."
            + "\(pad(Int(spec.tv_nsec) / 1_000_000, 3))Z"
    }
}

/// How values are written in a line: the text format's quoting rule and the numbers of both.
enum LogText {
    /// Whether a text-format value goes in JSON quotes: with control characters (and the Unicode
    /// line separators), always; a `key=value` field also when a space, quote or `=` would make
    /// it ambiguous, or when it is empty.
    static func needsQuoting(_ text: String, forValue: Bool) -> Bool {
        if forValue && text.isEmpty { return true }
        // On the UTF-8 bytes: every line checks its request id and message, so this is on the
        // warm path. U+2028 and U+2029 are E2 80 A8 and E2 80 A9.
        var text = text
        return text.withUTF8 { bytes in
            var afterE280 = false
            var afterE2 = false
            for byte in bytes {
                if byte < 0x20 || byte == 0x7F || (afterE280 && (byte == 0xA8 || byte == 0xA9))
                    || (forValue && (byte == 0x20 || byte == 0x22 || byte == 0x3D)) {
                    return true
                }
                afterE280 = afterE2 && byte == 0x80
                afterE2 = byte == 0xE2
            }
            return false
        }
    }

    /// `text` as it stands in a text line: escaped as inside a JSON string when it needs quoting.
    static func escaped(_ text: String) -> String {
        needsQuoting(text, forValue: false) ? String(quoted(text).dropFirst().dropLast()) : text
    }

    /// `text` as a JSON string literal, with U+2028 and U+2029 escaped too: JSON allows them raw,
    /// but JavaScript readers and many log viewers take them for line breaks.
    static func quoted(_ text: String) -> String {
        let quoted = text.jsonQuoted
        guard quoted.unicodeScalars.contains(where: { $0 == "\u{2028}" || $0 == "\u{2029}" }) else { return quoted }
        var escaped = String.UnicodeScalarView()
        for scalar in quoted.unicodeScalars {
            switch scalar {
            case "\u{2028}": escaped.append(contentsOf: "\\u2028".unicodeScalars)
            case "\u{2029}": escaped.append(contentsOf: "\\u2029".unicodeScalars)
            default: escaped.append(scalar)
            }
        }
        return String(escaped)
    }

    /// Milliseconds are logged to the microsecond; huge values are written as they are (scaling
    /// them first would overflow to `inf`, which is not JSON), and a non-finite one as `null`.
    static func number(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        guard abs(value) < 1e15 else { return String(value) }
        return String((value * 1000).rounded() / 1000)
    }
}
