import Foundation
import Testing
import TestHTTPServer
@testable import LambdaRuntime

#if canImport(Glibc)
import Glibc
#endif

/// A Runtime API for several workers at once: `/next` hands out queued events (and, once they run
/// out, answers `exhausted` after a pause), posts are recorded and answered with `postStatus`.
private final class ConcurrentRuntimeAPI: Sendable {
    struct State {
        var events: [(id: String, body: String, headers: [(String, String)])] = []
        var postStatus: [String: Int] = [:]
    }

    final class Shared: Sendable {
        let state: Lock<State>
        init(_ state: State) { self.state = Lock(state) }
    }

    let server: TestHTTPServer

    init(events: [(id: String, body: String)], exhausted: ScriptedResponse = ScriptedResponse(status: 500, body: "no more", delay: 0.3),
         postStatus: [String: Int] = [:], broken: [String] = []) throws {
        let queued = events.map { event in
            (id: event.id, body: event.body,
             headers: broken.contains(event.id)
                ? [("Lambda-Runtime-Deadline-Ms", "4102444800000")]
                : [("Lambda-Runtime-Aws-Request-Id", event.id), ("Lambda-Runtime-Deadline-Ms", "4102444800000")])
        }
        let shared = Shared(State(events: queued, postStatus: postStatus))
        server = try TestHTTPServer(handler: { request in
            if request.method == "GET" {
                let event = shared.state.withLock { $0.events.isEmpty ? nil : $0.events.removeFirst() }
                guard let event else { return exhausted }
                return ScriptedResponse(status: 200, headers: event.headers, body: event.body)
            }
            let id = request.path.split(separator: "/").dropLast().last.map(String.init) ?? ""
            return ScriptedResponse(status: shared.state.withLock { $0.postStatus[id] } ?? 202, body: "")
        })
    }

    var posts: [RecordedRequest] { server.requests.filter { $0.method == "POST" } }
}

/// Echoes its event, after `slowMicroseconds` when the event starts with "slow" (and 200 ms when
/// it starts with "late"); counts per handler.
private struct SlowEchoHandler: LambdaHandler {
    let counter: Counter

    final class Counter: Sendable {
        let handled = Lock([Int: Int]())
        /// Invocations being handled now, and the most at once.
        let running = Lock((now: 0, most: 0))
    }
    let worker: Int
    var slowMicroseconds: useconds_t = 100_000

    mutating func handle(_ invocation: Invocation) throws(FunctionError) -> [UInt8] {
        counter.handled.withLock { $0[worker, default: 0] += 1 }
        counter.running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
        defer { counter.running.withLock { $0.now -= 1 } }
        if invocation.event.starts(with: Array("slow".utf8)) { usleep(slowMicroseconds) }
        if invocation.event.starts(with: Array("late".utf8)) { usleep(200_000) }
        return Array("echo:".utf8) + invocation.event
    }
}

private func environment(_ server: TestHTTPServer, concurrency: String) -> [String: String] {
    ["AWS_LAMBDA_RUNTIME_API": server.authority, "AWS_LAMBDA_MAX_CONCURRENCY": concurrency]
}

@Suite struct ConcurrentRuntimeTests {
    /// Four workers, 24 slow invocations: each answer goes to its own request id, each worker on
    /// its own connection, and the invocations overlap instead of queueing.
    @Test func workersServeInvocationsAtOnceEachAnsweringItsOwn() throws {
        let events = (1...24).map { (id: "req-\($0)", body: "slow event \($0)") }
        let api = try ConcurrentRuntimeAPI(events: events)
        defer { api.server.stop() }
        let capture = try LogCapture()
        let counter = SlowEchoHandler.Counter()
        final class Made: @unchecked Sendable { var initializations = 0; var handlers = 0 }
        let made = Made()

        let start = ContinuousClock.now
        let status = LambdaRuntime.run(environment: environment(api.server, concurrency: "4"), logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry) {
            made.initializations += 1
            return {
                made.handlers += 1
                return SlowEchoHandler(counter: counter, worker: made.handlers)
            }
        }
        let elapsed = ContinuousClock.now - start

        #expect(status == 1, "ends when /next keeps failing")
        #expect(made.initializations == 1 && made.handlers == 4, "initialised once, one handler per worker")
        let posts = api.posts
        #expect(posts.count == 24)
        for event in events {
            let answers = posts.filter { $0.path == "/2018-06-01/runtime/invocation/\(event.id)/response" }
            #expect(answers.map(\.bodyText) == ["echo:\(event.body)"], "\(event.id)")
        }
        #expect(Set(posts.map(\.connection)).count == 4, "a Runtime API connection per worker")
        let perWorker = counter.handled.withLock { $0 }
        #expect(perWorker.values.reduce(0, +) == 24)
        #expect(perWorker.count >= 2, "more than one worker served: \(perWorker)")
        // 24 × 100 ms one at a time is 2.4 s; four at a time about 0.6 s, plus the final pause.
        #expect(counter.running.withLock { $0.most } >= 2, "invocations overlapped")
        #expect(elapsed < .milliseconds(2_400), "faster than one at a time: \(elapsed)")
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("\"level\":\"FATAL\"") }.count == 1)
        #expect(lines.filter { $0.contains("FATAL") && $0.contains("/next failed") }.count == 1, "\(lines)")
    }

    /// A 5xx on a post is the Runtime API saying the environment is broken: the process stops at
    /// once, though other workers are still waiting on `/next`.
    @Test func aFatalAnswerToAPostStopsEveryWorker() throws {
        let api = try ConcurrentRuntimeAPI(
            events: [(id: "req-1", body: "ping")], exhausted: ScriptedResponse(status: 500, body: "never", delay: 20),
            postStatus: ["req-1": 500])
        defer { api.server.stop() }
        let capture = try LogCapture()
        let counter = SlowEchoHandler.Counter()

        let start = ContinuousClock.now
        let status = LambdaRuntime.run(environment: environment(api.server, concurrency: "3"), logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry) {
            { SlowEchoHandler(counter: counter, worker: 0) }
        }

        #expect(status == 1)
        #expect(ContinuousClock.now - start < .seconds(5), "did not wait for the other workers' /next")
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("FATAL") }.count == 1)
        #expect(lines.last?.contains("answered 500") == true && lines.last?.contains("req-1") == true, "\(lines)")
    }

    /// When one worker ends the process, the invocations the others are handling are still
    /// answered before `run` returns: their callers would otherwise get `Runtime.ExitError`.
    @Test func theEndWaitsForTheInvocationsInFlight() throws {
        let events = (1...3).map { (id: "req-\($0)", body: "slow \($0)") } + [(id: "req-4", body: "late")]
        let api = try ConcurrentRuntimeAPI(events: events, exhausted: ScriptedResponse(status: 500, body: "never", delay: 20),
                                           postStatus: ["req-4": 500])
        defer { api.server.stop() }
        let capture = try LogCapture()
        let counter = SlowEchoHandler.Counter()

        let start = ContinuousClock.now
        let status = LambdaRuntime.run(environment: environment(api.server, concurrency: "4"), logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry) {
            { SlowEchoHandler(counter: counter, worker: 0, slowMicroseconds: 1_500_000) }
        }

        #expect(status == 1)
        #expect(ContinuousClock.now - start < .seconds(10), "waited for the invocations, not for the held /next")
        let posts = api.posts
        for id in ["req-1", "req-2", "req-3"] {
            #expect(posts.filter { $0.path == "/2018-06-01/runtime/invocation/\(id)/response" }.map(\.bodyText) == ["echo:slow \(id.dropFirst(4))"],
                    "\(id) answered before the end: \(posts.map(\.path))")
        }
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("FATAL") }.count == 1)
        #expect(lines.last?.contains("answered 500") == true && lines.last?.contains("req-4") == true, "\(lines)")
    }

    /// An answer to `/next` without a request id cannot be answered: the worker polls again and
    /// every worker goes on serving.
    @Test func anEventWithoutARequestIDIsSkippedAndEveryWorkerGoesOn() throws {
        let events = [(id: "bad", body: "no request id")] + (1...6).map { (id: "req-\($0)", body: "slow \($0)") }
        let api = try ConcurrentRuntimeAPI(events: events, broken: ["bad"])
        defer { api.server.stop() }
        let capture = try LogCapture()
        let counter = SlowEchoHandler.Counter()

        let status = LambdaRuntime.run(environment: environment(api.server, concurrency: "2"), logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry) {
            { SlowEchoHandler(counter: counter, worker: 0) }
        }

        #expect(status == 1)
        #expect(Set(api.posts.map(\.path)) == Set((1...6).map { "/2018-06-01/runtime/invocation/req-\($0)/response" }))
        let lines = capture.finishLines()
        #expect(lines.filter { $0.contains("\"level\":\"WARN\"") && $0.contains("retrying") && $0.contains("Lambda-Runtime-Aws-Request-Id") }.count == 1, "\(lines)")
        #expect(lines.filter { $0.contains("FATAL") }.count == 1)
    }

    @Test(arguments: ["0", "-1", "two", "1601", "4 "])
    func anInvalidConcurrencyIsAnInitErrorReportedOnce(value: String) throws {
        let server = try TestHTTPServer(script: [ScriptedResponse(status: 202)])
        defer { server.stop() }
        let capture = try LogCapture()
        let counter = SlowEchoHandler.Counter()

        let status = LambdaRuntime.run(environment: environment(server, concurrency: value), logger: Logger(format: .json, fileDescriptor: capture.writeFD), retry: quickRetry) {
            { SlowEchoHandler(counter: counter, worker: 0) }
        }

        #expect(status == 1)
        #expect(server.requests.map(\.path) == ["/2018-06-01/runtime/init/error"])
        let document = try jsonObject(server.requests[0].body)
        #expect((document["errorMessage"] as? String)?.contains("AWS_LAMBDA_MAX_CONCURRENCY") == true)
        #expect(capture.finishLines().filter { $0.contains("FATAL") }.count == 1)
    }

    @Test(arguments: [(nil, 1), ("", 1), ("1", 1), ("64", 64), ("1600", 1600)] as [(String?, Int)])
    func concurrencyComesFromTheEnvironment(value: String?, expected: Int) throws {
        #expect(try LambdaRuntime.concurrency(value) == expected)
    }
}
