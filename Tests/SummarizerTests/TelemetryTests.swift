import LambdaRuntime
import Metrics
import SageMakerRuntime
import Testing
import Tracing
@testable import Summarizer

/// How the handler's failures become metrics and trace flags.
@Suite struct TelemetryTests {
    @Test(arguments: [
        (Failure.methodNotAllowed(method: "GET"), Outcome.invalidRequest),
        (.invalidPayload(PayloadError(field: "inputs", "is required")), .invalidRequest),
        (.payloadTooLarge(bytes: 7_000_000), .invalidRequest),
        (.upstream(.throttling(message: "Rate exceeded")), .throttled),
        (.upstream(.modelNotReady(message: "loading")), .unavailable),
        (.upstream(.serviceUnavailable(message: "x")), .unavailable),
        (.upstream(.internalFailure(message: "x")), .unavailable),
        (.upstream(.validation(message: "x")), .validation),
        (.upstream(.modelError(message: "x", originalStatusCode: 500, originalMessage: nil, logStreamARN: nil)), .modelError),
        (.invalidModelResponse("<html>"), .modelError),
        (.upstream(.accessDenied(code: "AccessDeniedException", message: "x")), .accessDenied),
        (.upstream(.timedOut(afterMilliseconds: 100)), .timeout),
        (.upstream(.transport(.couldNotConnect("refused"))), .unreachable),
        (.upstream(.answerTooLarge(limit: 6_291_556)), .responseTooLarge),
        (.responseTooLarge(bytes: 7_000_000), .responseTooLarge),
    ])
    func eachFailureCountsUnderItsClass(failure: Failure, outcome: Outcome) {
        #expect(failure.outcome == outcome)
    }

    static let context = LambdaContext(
        requestID: "r-1", deadlineMilliseconds: 1, traceID: "Root=1-6744b1c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=1")

    func pending(_ record: InvocationRecord, traced: Bool = true, context: LambdaContext = context) -> PendingTelemetry {
        Telemetry(metrics: nil, xrayDaemonAddress: traced ? "127.0.0.1:2000" : nil)
            .pending(record, context: context, status: 200, milliseconds: 5, responseBytes: 10, region: "eu-west-1", endpointName: "e")
    }

    @Test func aSampledCallBecomesASubsegmentWithTheInvocationsTrace() throws {
        var record = InvocationRecord()
        record.callStarted = 1_796_694_712
        record.call.attempts = 2
        record.call.milliseconds = 250
        record.failure = .upstream(.throttling(message: "Rate exceeded"))
        let pending = pending(record)
        let subsegment = try #require(pending.subsegment)
        #expect(subsegment.trace.parent == "53995c3f42cd8ad8")
        #expect(subsegment.endTime == 1_796_694_712.25)
        #expect(subsegment.status == .clientError(throttled: true))
        #expect(subsegment.errorType == "Throttled")
        #expect(pending.figures.traceID == "1-6744b1c0-0123456789abcdef01234567")
        #expect(pending.figures.outcome == .throttled && pending.figures.sageMakerMilliseconds == 250)
    }

    @Test func noSubsegmentWithoutACallATracingDaemonOrASampledTrace() {
        var called = InvocationRecord()
        called.callStarted = 1_796_694_712
        #expect(pending(InvocationRecord()).subsegment == nil)
        #expect(pending(called, traced: false).subsegment == nil)
        var unsampled = Self.context
        unsampled.traceID = "Root=1-6744b1c0-0123456789abcdef01234567;Parent=53995c3f42cd8ad8;Sampled=0"
        #expect(pending(called, context: unsampled).subsegment == nil)
        #expect(pending(InvocationRecord()).figures.sageMakerMilliseconds == nil)
    }

    @Test(arguments: [
        (SageMakerError.validation(message: "x"), 400 as Int?, Subsegment.Status.clientError(throttled: false)),
        (.modelError(message: "x", originalStatusCode: 500, originalMessage: nil, logStreamARN: nil), 424, .clientError(throttled: false)),
        (.modelNotReady(message: "x"), 429, .clientError(throttled: true)),
        (.serviceUnavailable(message: "x"), 503, .fault),
        (.unexpected(status: 429, code: nil, message: "x"), 429, .clientError(throttled: true)),
        (.unexpected(status: 502, code: nil, message: "x"), 502, .fault),
        (.timedOut(afterMilliseconds: 5), nil, .fault),
        (.transport(.couldNotConnect("x")), nil, .fault),
    ])
    func upstreamErrorsMapToXRayFlags(error: SageMakerError, status: Int?, flag: Subsegment.Status) {
        let (httpStatus, mapped) = Telemetry.traceStatus(error)
        #expect(httpStatus == status && mapped == flag)
    }
}
