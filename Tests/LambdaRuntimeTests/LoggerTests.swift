import Foundation
import HTTP
import JSON
import Testing
import TestHTTPServer
@testable import LambdaRuntime

/// Logs one line at every level and returns the lines that came out.
private func linesLoggedAtEveryLevel(minimumLevel: Logger.Level, format: Logger.Format) throws -> [String] {
    let capture = try LogCapture()
    let logger = Logger(minimumLevel: minimumLevel, format: format, fileDescriptor: capture.writeFD)
    for level in Logger.Level.allCases {
        logger.log(level, "message at \(level.name)")
    }
    return capture.finishLines()
}

@Suite struct LogTextTests {
    @Test func numbers() throws {
        #expect(LogText.number(0.5) == "0.5")
        #expect(LogText.number(1.23456) == "1.235")
        #expect(LogText.number(.nan) == "null")
        #expect(LogText.number(.infinity) == "null")
        #expect(LogText.number(-.infinity) == "null")
        for value in [0.0, -0.0, 3.0, -2.5, 123_456_789.125, 1e-9, 1e21] {
            let parsed = try JSONSerialization.jsonObject(with: Data("[\(LogText.number(value))]".utf8)) as? [Double]
            #expect(parsed?.count == 1, "\(LogText.number(value)) is not a JSON number")
        }
    }

    /// The byte-wise check says what the rule says scalar by scalar.
    @Test func quotingFollowsTheRule() {
        func rule(_ text: String, _ forValue: Bool) -> Bool {
            text.unicodeScalars.contains { scalar in
                scalar.value < 0x20 || scalar.value == 0x7f || scalar == "\u{2028}" || scalar == "\u{2029}"
                    || (forValue && (scalar == " " || scalar == "\"" || scalar == "="))
            } || (forValue && text.isEmpty)
        }
        let samples = nastyStrings + ["€ \u{2027} \u{202A} \u{2030}", "\u{2028}", "x\u{2029}", "a=b", "ok-1_2", "\u{E2}\u{80}"]
        for text in samples {
            for forValue in [false, true] {
                #expect(LogText.needsQuoting(text, forValue: forValue) == rule(text, forValue), "\(text.debugDescription) \(forValue)")
            }
        }
    }

    // Scaling a huge value before rounding once overflowed to `inf`, which is not JSON.
    @Test(arguments: [1e306, -1e306, Double.greatestFiniteMagnitude])
    func hugeFiniteNumbersStayValidJSON(value: Double) throws {
        let text = LogText.number(value)
        let parsed = try? JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)) as? [Double]
        #expect(parsed?.first == value, "\(value) written as \(text)")

        let capture = try LogCapture()
        Logger(format: .json, fileDescriptor: capture.writeFD).log(.info, "measured", ["value": .double(value)])
        let line = try #require(capture.finishLines().first)
        #expect((try? jsonObject(line)) != nil, "not JSON: \(line)")
    }
}

@Suite struct LoggerTests {
    @Test func textLinesStayOneLinePerEvent() throws {
        let capture = try LogCapture()
        Logger(format: .text, fileDescriptor: capture.writeFD)
            .log(.error, "first\nsecond\rthird", requestID: "r-1", ["detail": "a b\nc", "plain": "ok", "empty": ""])
        let lines = try capture.finishLines()
        #expect(lines.count == 1)
        #expect(lines.first == "[ERROR]\tr-1\tfirst\\nsecond\\rthird detail=\"a b\\nc\" plain=ok empty=\"\"")
    }

    /// JSON allows U+2028 and U+2029 raw; log viewers and JavaScript take them for line breaks.
    @Test(arguments: [Logger.Format.text, .json])
    func unicodeLineSeparatorsAreEscaped(format: Logger.Format) throws {
        let capture = try LogCapture()
        Logger(format: format, fileDescriptor: capture.writeFD)
            .log(.warn, "one\u{2028}two\u{2029}three", requestID: "r\u{2028}1", ["detail": "a\u{2028}b", "other": "c\u{2029}d"])
        let text = capture.finish()
        #expect(!text.unicodeScalars.contains { $0 == "\u{2028}" || $0 == "\u{2029}" }, "\(text.debugDescription)")
        #expect(text.contains(#"one\u2028two\u2029three"#) && text.contains(#"a\u2028b"#) && text.contains(#"c\u2029d"#), "\(text)")
        if format == .json {
            let object = try jsonObject(String(text.dropLast()))
            #expect(object["message"] as? String == "one\u{2028}two\u{2029}three")
            #expect(object["requestId"] as? String == "r\u{2028}1" && object["detail"] as? String == "a\u{2028}b")
        }
    }

    @Test(arguments: [
        ([:], Logger.Format.text, Logger.Level.info),
        (["AWS_LAMBDA_LOG_FORMAT": "JSON"], .json, .info),
        (["AWS_LAMBDA_LOG_FORMAT": "json"], .json, .info),
        (["AWS_LAMBDA_LOG_FORMAT": "Text"], .text, .info),
        (["AWS_LAMBDA_LOG_FORMAT": "yaml"], .text, .info),
        (["AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"], .json, .warn),
        (["AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "debug"], .json, .debug),
        (["AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "TRACE"], .json, .trace),
        (["AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "Fatal"], .json, .fatal),
        (["AWS_LAMBDA_LOG_LEVEL": "ERROR"], .text, .error),
        (["AWS_LAMBDA_LOG_LEVEL": "VERBOSE"], .text, .info),
        (["AWS_LAMBDA_LOG_LEVEL": ""], .text, .info),
    ] as [([String: String], Logger.Format, Logger.Level)])
    func fromEnvironment(environment: [String: String], format: Logger.Format, level: Logger.Level) throws {
        let configured = Logger.fromEnvironment(environment)
        #expect(configured.format == format)
        #expect(configured.minimumLevel == level)

        // What actually gets written with that configuration.
        let lines = try linesLoggedAtEveryLevel(minimumLevel: configured.minimumLevel, format: configured.format)

        let expected = Logger.Level.allCases.filter { $0 >= level }
        #expect(lines.count == expected.count, "\(lines)")
        for (line, expectedLevel) in zip(lines, expected) {
            switch format {
            case .json:
                let object = try jsonObject(line)
                #expect(object["level"] as? String == expectedLevel.name)
                #expect(object["message"] as? String == "message at \(expectedLevel.name)")
            case .text:
                #expect(line == "[\(expectedLevel.name)]\tmessage at \(expectedLevel.name)")
            }
        }
    }

    @Test func levelsBelowTheMinimumAreNotWrittenNorEvaluated() throws {
        let capture = try LogCapture()
        let logger = Logger(minimumLevel: .warn, format: .json, fileDescriptor: capture.writeFD)
        nonisolated(unsafe) var evaluations = 0
        func expensive(_ text: String) -> String {
            evaluations += 1
            return text
        }

        logger.log(.trace, expensive("trace"))
        logger.log(.debug, expensive("debug"))
        logger.log(.info, expensive("info"))
        logger.log(.warn, expensive("warn"))
        logger.log(.error, expensive("error"))

        let lines = capture.finishLines()
        #expect(lines.count == 2)
        #expect(try lines.map { try jsonObject($0)["message"] as? String } == ["warn", "error"])
        #expect(evaluations == 2)
        #expect(!logger.isEnabled(.info))
        #expect(logger.isEnabled(.warn))
        #expect(logger.isEnabled(.fatal))
    }

    @Test func jsonLineCarriesTimestampLevelRequestIDMessageAndFields() throws {
        let capture = try LogCapture()
        let logger = Logger(minimumLevel: .info, format: .json, fileDescriptor: capture.writeFD)
        let message = "summarised \"3\" articles\nin 1.5 s \u{1} 📈"
        let before = Date()

        logger.log(.error, message, requestID: "8476a536-e9f4", [
            "count": 3,
            "ratio": .double(0.25),
            "nan": .double(.nan),
            "endpoint": "financial-summarizer",
            "weird \"key\"\n": .string("tab\there"),
        ])

        let lines = capture.finishLines()
        try #require(lines.count == 1, "one write, one line: \(lines)")
        let object = try jsonObject(lines[0])
        #expect(Set(object.keys) == ["timestamp", "level", "requestId", "message", "count", "ratio", "nan", "endpoint", "weird \"key\"\n"])
        #expect(object["level"] as? String == "ERROR")
        #expect(object["requestId"] as? String == "8476a536-e9f4")
        #expect(sameScalars(object["message"] as? String, message))
        #expect(object["count"] as? Int == 3)
        #expect(object["ratio"] as? Double == 0.25)
        #expect(object["nan"] is NSNull)
        #expect(object["endpoint"] as? String == "financial-summarizer")
        #expect(object["weird \"key\"\n"] as? String == "tab\there")

        let timestamp = try #require(object["timestamp"] as? String)
        #expect(timestamp.wholeMatch(of: /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/) != nil, "\(timestamp)")
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let date = try #require(formatter.date(from: timestamp))
        #expect(abs(date.timeIntervalSince(before)) < 10, "timestamp \(timestamp) is not now")
    }

    @Test(arguments: nastyStrings)
    func jsonLineStaysOneValidLineForAnyMessage(message: String) throws {
        let capture = try LogCapture()
        let logger = Logger(format: .json, fileDescriptor: capture.writeFD)

        logger.log(.info, message, requestID: message, ["field": .string(message)])

        let lines = capture.finishLines()
        try #require(lines.count == 1, "\(lines)")
        let object = try jsonObject(lines[0])
        #expect(sameScalars(object["message"] as? String, message))
        #expect(sameScalars(object["requestId"] as? String, message))
        #expect(sameScalars(object["field"] as? String, message))
    }

    @Test func jsonLineWithoutRequestID() throws {
        let capture = try LogCapture()
        Logger(format: .json, fileDescriptor: capture.writeFD).log(.info, "cold start")
        let object = try jsonObject(try #require(capture.finishLines().first))
        #expect(Set(object.keys) == ["timestamp", "level", "message"])
    }

    @Test func textLine() throws {
        let capture = try LogCapture()
        let logger = Logger(minimumLevel: .info, format: .text, fileDescriptor: capture.writeFD)

        logger.log(.info, "invoked", requestID: "req-1", ["count": 3, "endpoint": "two words", "ratio": .double(0.5), "plain": "x"])
        logger.log(.warn, "no request")

        #expect(capture.finishLines() == [
            "[INFO]\treq-1\tinvoked count=3 endpoint=\"two words\" ratio=0.5 plain=x",
            "[WARN]\tno request",
        ])
    }

    @Test(arguments: [
        ("trace", Logger.Level.trace), ("DEBUG", .debug), ("Info", .info), ("warn", .warn),
        ("ERROR", .error), ("fatal", .fatal),
    ])
    func levelNames(name: String, level: Logger.Level) {
        #expect(Logger.Level(name: name) == level)
        #expect(Logger.Level(name: level.name) == level)
    }

    @Test func unknownLevelNames() {
        #expect(Logger.Level(name: "WARNING") == nil)
        #expect(Logger.Level(name: "") == nil)
        #expect(Logger.Level.trace < .debug && .debug < .info && .info < .warn && .warn < .error && .error < .fatal)
    }
}

@Suite struct LambdaContextTests {
    @Test func remainingMillisecondsAgainstAGivenNow() {
        let context = LambdaContext(requestID: "r", deadlineMilliseconds: 1_700_000_010_000)
        #expect(context.remainingMilliseconds(now: 1_700_000_000_000) == 10_000)
        #expect(context.remainingMilliseconds(now: 1_700_000_010_000) == 0)
        #expect(context.remainingMilliseconds(now: 1_700_000_010_250) == -250)
    }

    @Test func remainingMillisecondsAgainstTheWallClock() {
        let now = Int64(Date().timeIntervalSince1970 * 1000)
        let context = LambdaContext(requestID: "r", deadlineMilliseconds: now + 5_000)

        let remaining = context.remainingMilliseconds()

        #expect(remaining <= 5_000)
        #expect(remaining > 3_000, "\(remaining)")
        #expect(LambdaContext(requestID: "r", deadlineMilliseconds: now - 1_000).remainingMilliseconds() < 0)
    }

    @Test func clocks() {
        let wall = WallClock.nowMilliseconds()
        #expect(abs(wall - Int64(Date().timeIntervalSince1970 * 1000)) < 1_000)
        let start = MonotonicClock.nowNanoseconds()
        #expect(MonotonicClock.nowNanoseconds() >= start)
        #expect(MonotonicClock.millisecondsSince(start) >= 0)
        #expect(MonotonicClock.millisecondsSince(start) < 10_000)
    }
}

/// Text from outside is capped where it lands: 8 KiB in a log line, 1 KiB in an `errorMessage`,
/// measured after escaping, cut at a character boundary.
@Suite struct TextLimitTests {
    @Test(arguments: [
        String(repeating: "a", count: 20_000),
        String(repeating: "\u{1}", count: 5_000),
        String(repeating: "é\"\n", count: 5_000),
        String(repeating: "e\u{301}", count: 5_000),
        String(repeating: "😀", count: 5_000),
    ])
    func cappedTextFitsOnceEscaped(text: String) throws {
        for limit in [1024, 8192] {
            let capped = text.cappedForJSON(limit)
            let escaped = capped.jsonQuoted.utf8.count - 2
            #expect(escaped <= limit)
            #expect(escaped > limit - 16, "cut at the limit, not far before it")
            #expect(capped.hasSuffix(String.cutMarker))
            #expect(text.hasPrefix(String(capped.dropLast(String.cutMarker.count))), "a prefix of whole characters")
        }
    }

    @Test func shortTextIsLeftAlone() {
        #expect("fits".cappedForJSON(8) == "fits")
        let exact = String(repeating: "x", count: 1024)
        #expect(exact.cappedForJSON(1024) == exact)
    }

    @Test(arguments: [Logger.Format.text, .json])
    func aLogLineStaysWithinItsLimit(format: Logger.Format) throws {
        let capture = try LogCapture()
        let logger = Logger(format: format, fileDescriptor: capture.writeFD)
        logger.log(.error, String(repeating: "upstream said \"no\"\n", count: 10_000), requestID: "req-1",
                   ["detail": .string(String(repeating: "z", count: 100_000))])
        let lines = capture.finishLines()
        #expect(lines.count == 1)
        #expect(lines[0].utf8.count < 2 * Logger.maximumTextBytes + 200, "\(lines[0].utf8.count) bytes")
        if format == .json { _ = try jsonObject(lines[0]) }
    }

    @Test func anErrorMessageStaysWithinItsLimit() throws {
        let error = FunctionError(type: "ModelError", message: String(repeating: "\u{7}", count: 10_000))
        let document = try jsonObject(error.jsonBody())
        let message = try #require(document["errorMessage"] as? String)
        #expect(message.jsonQuoted.utf8.count - 2 <= FunctionError.maximumMessageBytes)
    }
}
