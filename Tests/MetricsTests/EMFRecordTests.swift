import JSON
import Testing
@testable import Metrics

#if canImport(Glibc)
import Glibc
#endif

/// The record against AWS's "Specification: Embedded metric format" (CloudWatch User Guide):
/// the root holds `_aws` with an integer `Timestamp` and a `CloudWatchMetrics` array of
/// directives; a directive has a `Namespace` (1-1024 characters), `Dimensions` (sets of at most
/// 30 names) and `Metrics` (at most 100 definitions: a `Name` and a known `Unit`); every
/// dimension a directive names is a string member of the root, every metric a number member.
@Suite struct EMFRecordTests {
    static let units: Set<String> = [
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
        "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
        "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
        "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    ]

    static let configuration = MetricsConfiguration(namespace: "SageMakerSummarizer", service: "sagemaker-summarizer")

    static func figures(
        outcome: Outcome = .succeeded, sageMakerMilliseconds: Double? = 40.25, coldStart: Bool = false
    ) -> InvocationFigures {
        InvocationFigures(
            outcome: outcome, status: 200, errorType: outcome == .succeeded ? nil : "Throttled", milliseconds: 41.5,
            sageMakerMilliseconds: sageMakerMilliseconds, attempts: 2, articles: 3, responseBytes: 219,
            coldStart: coldStart, requestID: "8f0c0b1e-0000-4000-8000-000000000001",
            traceID: "1-6744b1c0-0123456789abcdef01234567")
    }

    /// The record parsed, after checking it against every rule of the specification it can break.
    func checkedRecord(_ line: String) throws -> [JSONKey: JSONValue] {
        #expect(!line.contains("\n"), "a log event is one line")
        let root = try #require(try JSONValue(parsing: Array(line.utf8)).objectValue)
        let aws = try #require(root["_aws"]?.objectValue)
        guard case .int(let timestamp)? = aws["Timestamp"] else {
            Issue.record("Timestamp is not an integer")
            return root
        }
        #expect(timestamp > 1_600_000_000_000)
        guard case .array(let directives)? = aws["CloudWatchMetrics"] else {
            Issue.record("CloudWatchMetrics is not an array")
            return root
        }
        #expect(!directives.isEmpty)
        for directive in directives {
            let members = try #require(directive.objectValue)
            #expect(Set(members.keys.map(\.text)) == ["Namespace", "Dimensions", "Metrics"], "no other members")
            let namespace = try #require(members["Namespace"]?.stringValue)
            #expect((1...1024).contains(namespace.count))
            guard case .array(let dimensionSets)? = members["Dimensions"] else {
                Issue.record("Dimensions is not an array")
                continue
            }
            for case .array(let dimensionSet) in dimensionSets {
                #expect(dimensionSet.count <= EMFRecord.maximumDimensionsPerSet)
                for name in dimensionSet {
                    let name = try #require(name.stringValue)
                    let value = try #require(root[JSONKey(name)]?.stringValue, "dimension \(name) must be a string member")
                    #expect((1...1024).contains(value.count))
                }
            }
            guard case .array(let metrics)? = members["Metrics"] else {
                Issue.record("Metrics is not an array")
                continue
            }
            #expect(metrics.count <= EMFRecord.maximumMetricsPerDirective)
            for metric in metrics {
                let definition = try #require(metric.objectValue)
                #expect(Set(definition.keys.map(\.text)).isSubset(of: ["Name", "Unit", "StorageResolution"]))
                let name = try #require(definition["Name"]?.stringValue)
                #expect((1...1024).contains(name.count))
                if let unit = definition["Unit"] { #expect(Self.units.contains(unit.stringValue ?? ""), "\(unit)") }
                switch root[JSONKey(name)] {
                case .int?, .double?: break
                default: Issue.record("metric \(name) has no number member")
                }
            }
        }
        return root
    }

    @Test func aRecordFollowsTheSpecification() throws {
        let line = EMFRecord.line(Self.figures(), configuration: Self.configuration, timestampMilliseconds: 1_796_694_712_135)
        let root = try checkedRecord(line)
        #expect(root["_aws"]?["Timestamp"] == .int(1_796_694_712_135))
        #expect(root["_aws"]?["CloudWatchMetrics"] == .array([.object([
            "Namespace": .string("SageMakerSummarizer"),
            "Dimensions": .array([.array([.string("service")])]),
            "Metrics": .array(EMFRecord.metrics(calledSageMaker: true).map {
                .object(["Name": .string($0.name), "Unit": .string($0.unit.rawValue)])
            }),
        ])]))
        #expect(root["service"] == .string("sagemaker-summarizer"))
        #expect(root["Latency"] == .double(41.5))
        #expect(root["SageMakerLatency"] == .double(40.25))
        #expect(root["SageMakerAttempts"] == .int(2))
        #expect(root["Articles"] == .int(3))
        #expect(root["ResponseBytes"] == .int(219))
        #expect(root["ColdStart"] == .int(0))
        #expect(root["cold_start"] == .bool(false))
        #expect(root["function_request_id"] == .string("8f0c0b1e-0000-4000-8000-000000000001"))
        #expect(root["xray_trace_id"] == .string("1-6744b1c0-0123456789abcdef01234567"))
        #expect(root["status"] == .int(200))
        #expect(root["level"] == .string("INFO"))
    }

    @Test(arguments: Outcome.allCases) func exactlyTheOutcomeCountsOne(outcome: Outcome) throws {
        let root = try checkedRecord(EMFRecord.line(
            Self.figures(outcome: outcome, coldStart: true), configuration: Self.configuration, timestampMilliseconds: 1_796_694_712_135))
        for other in Outcome.allCases {
            #expect(root[JSONKey(other.metricName)] == .int(other == outcome ? 1 : 0))
        }
        #expect(root["outcome"] == .string(outcome.rawValue))
        #expect(root["ColdStart"] == .int(1))
    }

    @Test func withoutASageMakerCallThereIsNoLatencyToReport() throws {
        let root = try checkedRecord(EMFRecord.line(
            Self.figures(sageMakerMilliseconds: nil), configuration: Self.configuration, timestampMilliseconds: 1_796_694_712_135))
        #expect(root["SageMakerLatency"] == nil)
    }

    @Test func theMetricSetStaysInsideTheLimits() {
        let metrics = EMFRecord.metrics(calledSageMaker: true)
        #expect(metrics.count <= EMFRecord.maximumMetricsPerDirective)
        #expect(Set(metrics.map(\.name)).count == metrics.count, "no metric twice")
    }

    @Test func namesFromTheEnvironmentAreEscapedAndBounded() throws {
        let configuration = try #require(MetricsConfiguration.fromEnvironment([
            "POWERTOOLS_METRICS_NAMESPACE": "Team \"A\"/Summaries", "POWERTOOLS_SERVICE_NAME": "svc\u{2028}x",
        ]))
        let root = try checkedRecord(EMFRecord.line(Self.figures(), configuration: configuration, timestampMilliseconds: 1_796_694_712_135))
        #expect(root["_aws"]?["CloudWatchMetrics"].flatMap { if case .array(let a) = $0 { a.first?["Namespace"] } else { nil } }
            == .string("Team \"A\"/Summaries"))
        #expect(root["service"] == .string("svc\u{2028}x"))

        let fallback = try #require(MetricsConfiguration.fromEnvironment([
            "POWERTOOLS_METRICS_NAMESPACE": String(repeating: "n", count: 1025), "AWS_LAMBDA_FUNCTION_NAME": "fn",
        ]))
        #expect(fallback == MetricsConfiguration(namespace: MetricsConfiguration.defaultNamespace, service: "fn"))
        #expect(MetricsConfiguration.fromEnvironment(["POWERTOOLS_METRICS_DISABLED": "TRUE"]) == nil)
    }

    @Test func nonFiniteFiguresStayValidJSON() throws {
        var figures = Self.figures()
        figures.milliseconds = .infinity
        figures.sageMakerMilliseconds = .nan
        let root = try checkedRecord(EMFRecord.line(figures, configuration: Self.configuration, timestampMilliseconds: 1_796_694_712_135))
        #expect(root["Latency"] == .int(0))
    }

    @Test func theWriterPutsOneWholeLinePerRecordOnItsDescriptor() throws {
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]) }
        let writer = MetricsWriter(configuration: Self.configuration, fileDescriptor: pipeEnds[1])
        writer.write(Self.figures())
        writer.write(Self.figures(outcome: .timeout))
        close(pipeEnds[1])
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = read(pipeEnds[0], &buffer, buffer.count)
            if count <= 0 { break }
            bytes += buffer[0..<count]
        }
        let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == 2)
        for line in lines { _ = try checkedRecord(String(line)) }
        #expect(bytes.count / 2 < 4096, "one write(2) under PIPE_BUF keeps a record whole")
    }
}

@Suite struct ColdStartFlagTests {
    @Test func onlyTheFirstOfManyConcurrentTakersIsCold() async {
        let flag = ColdStartFlag()
        let colds = await withTaskGroup(of: Bool.self) { group in
            for _ in 0..<64 { group.addTask { flag.take() } }
            return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(colds == 1)
        #expect(flag.take() == false)
    }
}
