import Foundation
import Testing
import TestHTTPServer
@testable import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A Runtime API that fails the first `/next` requests as `faults` says, then hands out `events`,
/// then holds each `/next` for `holdSeconds` (then a 500), until `failAll` makes every `/next` a
/// 500 at once. The server stays up until the test ends: a worker still retrying against a closed
/// port could reach another test's server that the kernel gave the port to.
private final class FaultyRuntimeAPI: Sendable {
    // Longer than the tests' `heldMilliseconds`: a held poll answered 500 then shows that the
    // Runtime API was usable while it was held, so it restarts the count of failures instead of
    // adding to it, and a worker keeps polling until `failAll`.
    static let holdSeconds = 2.0

    struct State {
        var faults: [ScriptedResponse]
        var events: [ScriptedResponse]
        /// When each held `/next` arrived.
        var held: [ContinuousClock.Instant] = []
        var failing = false
    }

    let server: TestHTTPServer
    private let state: Lock<State>

    init(faults: [ScriptedResponse], events: [ScriptedResponse]) throws {
        let state = Lock(State(faults: faults, events: events))
        self.state = state
        server = try TestHTTPServer(handler: { request in
            guard request.method == "GET" else { return ScriptedResponse(status: 202, body: "") }
            return state.withLock { state in
                if state.failing { return ScriptedResponse(status: 500, body: "gone") }
                if !state.faults.isEmpty { return state.faults.removeFirst() }
                if !state.events.isEmpty { return state.events.removeFirst() }
                state.held.append(.now)
                return ScriptedResponse(status: 500, body: "held", delay: Self.holdSeconds)
            }
        })
    }

    /// `/next` requests held open now, once the events ran out.
    var held: Int {
        let since = ContinuousClock.now - .milliseconds(Int(Self.holdSeconds * 1000) - 50)
        return state.withLock { $0.held.filter { $0 > since }.count }
    }

    func failAll() { state.withLock { $0.failing = true } }
    var posts: [RecordedRequest] { server.requests.filter { $0.method == "POST" } }
}

private struct EchoHandler: LambdaHandler {
    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> [UInt8] {
        Array("echo:".utf8) + invocation.event
    }
}

private func event(_ id: String?, deadline: String = "4102444800000") -> ScriptedResponse {
    ScriptedResponse(status: 200, headers: (id.map { [("Lambda-Runtime-Aws-Request-Id", $0)] } ?? []) + [("Lambda-Runtime-Deadline-Ms", deadline)],
                     body: "event \(id ?? "without id")")
}

/// Runs the loop on a thread of its own; `wait` returns its exit status (nil if it never ended).
private final class BackgroundRun: @unchecked Sendable {
    private let done = Lock<Int32?>(nil)

    init(environment: [String: String], logger: Logger, retry: NextRetryPolicy) {
        Thread.detachNewThread { [done] in
            let status = LambdaRuntime.run(environment: environment, logger: logger, retry: retry) { { EchoHandler() } }
            done.withLock { $0 = status }
        }
    }

    func wait(seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let status = done.withLock({ $0 }) { return status }
            usleep(10_000)
        }
        return nil
    }
}

@Suite(.serialized) struct WorkerRecoveryTests {
    private static let retry = NextRetryPolicy(baseMilliseconds: 10, capMilliseconds: 40, windowMilliseconds: 300, minimumAttempts: 3,
                                                  heldMilliseconds: 400)

    /// One `/next` 500, one 429, one reset and one 503: each retried on a fresh connection, and
    /// in the end all N workers poll again. Invocations with unusable headers but a request id
    /// are answered with an error, and the worker goes on. The same with one worker.
    @Test(arguments: [1, 4])
    func failedPollsAreRetriedAndThePoolStaysWhole(workers: Int) throws {
        let faults = [
            ScriptedResponse(status: 500, body: #"{"errorMessage":"internal","errorType":"ServiceException"}"#),
            ScriptedResponse(status: 429, body: "slow down"),
            ScriptedResponse.closeWithoutAnswering(),
            ScriptedResponse(status: 503, body: "busy"),
        ]
        let events = [event("bad-soon", deadline: "soon"), event("req-1"), event("bad-negative", deadline: "-5"),
                      event(nil), event("req-2"), event("req-3")]
        let api = try FaultyRuntimeAPI(faults: faults, events: events)
        defer { api.server.stop() }
        let capture = try LogCapture()
        let run = BackgroundRun(environment: ["AWS_LAMBDA_RUNTIME_API": api.server.authority, "AWS_LAMBDA_MAX_CONCURRENCY": String(workers)],
                                logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: Self.retry)

        let allPolling = api.server.waitUntil(timeout: 10) { api.held == workers }
        #expect(allPolling, "\(api.held) of \(workers) workers poll /next")
        let posts = api.posts
        for id in ["req-1", "req-2", "req-3"] {
            #expect(posts.filter { $0.path == "/2018-06-01/runtime/invocation/\(id)/response" }.map(\.bodyText) == ["echo:event \(id)"])
        }
        for (id, value) in [("bad-soon", "soon"), ("bad-negative", "-5")] {
            let answers = posts.filter { $0.path == "/2018-06-01/runtime/invocation/\(id)/error" }
            try #require(answers.count == 1, "\(id) answered with an error")
            #expect(answers[0].header("Lambda-Runtime-Function-Error-Type") == "Runtime.InvalidRuntimeHeaders")
            let document = try jsonObject(answers[0].body)
            #expect(document["errorType"] as? String == "InvalidRuntimeHeaders")
            #expect((document["errorMessage"] as? String)?.contains("Lambda-Runtime-Deadline-Ms: \"\(value)\"") == true, "\(document)")
        }
        #expect(posts.count == 5)
        #expect(!api.server.requests.contains { $0.method == "GET" && $0.path != "/2018-06-01/runtime/invocation/next" })
        // Every failed poll was retried on a fresh connection.
        #expect(api.server.acceptedConnections >= workers + faults.count + 1)

        // Then the Runtime API fails for good: the process ends, once, after the window.
        api.failAll()
        let status = run.wait(seconds: 10)
        #expect(status == 1)
        let lines = capture.finishLines()
        let fatal = lines.filter { $0.contains("FATAL") }
        #expect(fatal.count == 1, "\(fatal)")
        #expect(fatal.first?.contains("/next failed") == true, "\(fatal)")
        for status in ["answered 429", "answered 503", "closed the connection", "answered 500: gone"] {
            #expect(lines.contains { $0.contains("\"level\":\"WARN\"") && $0.contains(status) && $0.contains("retrying /next on a fresh connection") },
                    "a WARN line for \(status)")
        }
        #expect(lines.contains { $0.contains("/next works again") })
        #expect(lines.filter { $0.contains("\"level\":\"ERROR\"") && $0.contains("invocation not handled") }.count == 2, "\(lines)")
    }

    /// A poll held open for longer than the retry window that then fails shows a Runtime API that
    /// was usable meanwhile (an idle environment): it restarts the count, so one failure before it
    /// and one after it are not a Runtime API unusable for the whole window.
    @Test func aLongHeldPollThatFailsRestartsTheCount() throws {
        let holdMilliseconds = max(Self.retry.windowMilliseconds, Self.retry.heldMilliseconds) + 200
        let faults = [
            ScriptedResponse(status: 500, body: "blip"),
            ScriptedResponse(status: 500, body: "held then failed", delay: Double(holdMilliseconds) / 1000),
            ScriptedResponse(status: 503, body: "blip again"),
        ]
        let api = try FaultyRuntimeAPI(faults: faults, events: [event("req-1")])
        defer { api.server.stop() }
        let capture = try LogCapture()
        let run = BackgroundRun(environment: ["AWS_LAMBDA_RUNTIME_API": api.server.authority],
                                logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: Self.retry)

        let served = api.server.waitUntil(timeout: 10) {
            api.held == 1 && api.posts.contains { $0.path == "/2018-06-01/runtime/invocation/req-1/response" }
        }
        #expect(served, "the worker kept polling and served req-1: \(api.server.requests.map(\.path))")
        #expect(run.wait(seconds: 0.1) == nil, "the process is still up")

        api.failAll()
        #expect(run.wait(seconds: 10) == 1)
        let fatal = capture.finishLines().filter { $0.contains("FATAL") }
        #expect(fatal.count == 1 && fatal.first?.contains("answered 500: gone") == true, "\(fatal)")
    }

    /// A Runtime API that never answers `/next` usefully ends the process after the window, with
    /// one FATAL line, not a worker at a time.
    @Test(arguments: [1, 3])
    func aRuntimeAPIUnusableForTheWholeWindowEndsTheProcess(workers: Int) throws {
        let server = try TestHTTPServer(handler: { _ in ScriptedResponse(status: 500, body: "down") })
        defer { server.stop() }
        let capture = try LogCapture()
        let start = ContinuousClock.now
        let status = LambdaRuntime.run(
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority, "AWS_LAMBDA_MAX_CONCURRENCY": String(workers)],
            logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: Self.retry
        ) { { EchoHandler() } }
        let elapsed = ContinuousClock.now - start

        #expect(status == 1)
        #expect(elapsed >= .milliseconds(Self.retry.windowMilliseconds), "gave up only after the window: \(elapsed)")
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("FATAL") }.count == 1, "\(lines)")
        #expect(lines.last?.contains("FATAL") == true && lines.last?.contains("answered 500") == true, "\(lines.last ?? "")")
        #expect(server.requests.count >= workers * Self.retry.minimumAttempts)
    }

    /// Once one worker has ended the process, the others take no new invocation: it would be lost
    /// with the process. Their `/next` fails 200 ms later and is not retried (and a worker that
    /// starts only after the end does not poll at all).
    @Test func afterTheEndNoWorkerPollsAgain() throws {
        let server = try TestHTTPServer(handler: { request in
            if request.method == "POST" { return ScriptedResponse(status: 500, body: "broken") }
            return request.connection == 1 ? event("req-1") : ScriptedResponse(status: 500, body: "later", delay: 0.2)
        })
        defer { server.stop() }
        let capture = try LogCapture()
        let status = LambdaRuntime.run(
            environment: ["AWS_LAMBDA_RUNTIME_API": server.authority, "AWS_LAMBDA_MAX_CONCURRENCY": "3"],
            logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: Self.retry
        ) { { EchoHandler() } }
        #expect(status == 1)
        usleep(600_000)  // the others' /next answered, and more than their first pause
        let polls = server.requests.filter { $0.method == "GET" }
        // At most one each: a worker that starts after the end does not poll at all.
        #expect(polls.count <= 3, "\(polls.map(\.connection))")
        #expect(Set(polls.map(\.connection)).count == polls.count)
        #expect(capture.finishLines().filter { $0.contains("FATAL") }.count == 1)
    }

    @Test func pausesGrowCappedAndJittered() {
        let policy = NextRetryPolicy.standard
        for attempt in 1...30 {
            let step = min(policy.capMilliseconds, policy.baseMilliseconds << min(attempt - 1, 20))
            let pauses = (0..<50).map { _ in policy.pauseMilliseconds(after: attempt) }
            #expect(pauses.allSatisfy { $0 >= step / 2 && $0 <= step }, "attempt \(attempt): \(pauses)")
        }
        #expect(Set((0..<50).map { _ in policy.pauseMilliseconds(after: 10) }).count > 1, "jittered")
        #expect(!policy.givesUp(attempts: 2, elapsedMilliseconds: 60_000), "one long pause (a frozen process) is not the window")
        #expect(!policy.givesUp(attempts: 50, elapsedMilliseconds: 4_000))
        #expect(policy.givesUp(attempts: 8, elapsedMilliseconds: 5_000))
    }

    /// Only a poll that connected and was held for longer than `heldMilliseconds` restarts the count:
    /// a connect that takes seconds to fail is the Runtime API unusable, not idle.
    @Test func onlyAHeldPollRestartsTheCount() {
        let policy = NextRetryPolicy.standard
        let refused = RuntimeAPIError.unexpectedStatus(endpoint: "/next", status: 500, body: "")
        #expect(policy.restartsTheCount(refused, held: 60_000))
        #expect(policy.restartsTheCount(.transport(.receiveFailed("reset")), held: 1_500))
        #expect(!policy.restartsTheCount(refused, held: policy.heldMilliseconds))
        #expect(!policy.restartsTheCount(.transport(.connectTimedOut("no answer")), held: 3_000))
        #expect(!policy.restartsTheCount(.transport(.couldNotConnect("refused")), held: 3_000))
    }

    /// Seven descriptors a worker: the four it holds while it serves and the three it holds for
    /// a moment while its connection resolves a name, which every worker does at once on a cold
    /// burst.
    @Test func workersThatDoNotFitTheDescriptorLimitAreRefusedSayingWhatFits() throws {
        #expect(throws: Never.self) { try DescriptorLimit.check(workers: 141, limit: 1024) }
        do {
            try DescriptorLimit.check(workers: 100, limit: 128)
            Issue.record("100 workers fit 128 descriptors")
        } catch {
            #expect(error.type == "InvalidConfiguration")
            #expect(error.message.contains("100 workers") && error.message.contains("need 732") && error.message.contains("is 128")
                    && error.message.contains("at most 13 workers fit"), "\(error.message)")
        }
        #expect(throws: FunctionError.self) { try DescriptorLimit.check(workers: 1, limit: 38) }
        #expect(throws: Never.self) { try DescriptorLimit.check(workers: 13, limit: 128) }
        #expect(throws: FunctionError.self) { try DescriptorLimit.check(workers: 14, limit: 128) }
        #expect(DescriptorLimit.mostWorkers(limit: 1024) == 141)
        #expect(throws: FunctionError.self) { try DescriptorLimit.check(workers: 142, limit: 1024) }
    }
}
