import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// Why a worker stopped serving: always the end of the process, since a pool that shrinks
/// silently serves fewer invocations than Lambda sends it, and Lambda would never know.
struct WorkerEnd: Sendable {
    /// What the FATAL line says.
    var reason: String
    /// The invocation it was answering, if any.
    var requestID: String?
}

/// How a worker retries a `/next` that failed (a 5xx, 429 or other refusal, a reset, a time-out,
/// an answer without a request id): on a fresh connection, after a capped, jittered pause. When
/// the Runtime API stays unusable for `windowMilliseconds` (and `minimumAttempts`, so that one
/// pause stretched by a frozen process is not the whole window), the process ends: the platform
/// then replaces the environment.
struct NextRetryPolicy: Sendable {
    var baseMilliseconds = 50
    var capMilliseconds = 1_000
    var windowMilliseconds = 5_000
    var minimumAttempts = 4
    /// A poll held open for longer than this before it failed restarts the count.
    var heldMilliseconds = 1_000

    static let standard = NextRetryPolicy()

    /// The pause after failed attempt `attempt` (1, 2, …): half the capped exponential step
    /// fixed, half random, so that many workers failing at once do not retry in step.
    func pauseMilliseconds(after attempt: Int) -> Int {
        let step = min(capMilliseconds, baseMilliseconds << min(attempt - 1, 20))
        return step / 2 + Int.random(in: 0...(step - step / 2))
    }

    /// Whether an attempt that failed with `error` after `held` milliseconds shows that the
    /// Runtime API was usable until then: it connected and held the poll for longer than
    /// `heldMilliseconds` (an idle environment waits on `/next` for minutes). Its failure then
    /// starts a new count instead of adding to one, and the idle time is not time spent failing.
    func restartsTheCount(_ error: RuntimeAPIError, held: Int) -> Bool {
        switch error {
        case .transport(.couldNotConnect), .transport(.connectTimedOut): false
        default: held > heldMilliseconds
        }
    }

    /// Whether a run of `attempts` failures that began `elapsedMilliseconds` ago is the end.
    func givesUp(attempts: Int, elapsedMilliseconds: Int) -> Bool {
        attempts >= minimumAttempts && elapsedMilliseconds >= windowMilliseconds
    }
}

/// A worker as the thread that runs it sees it, whatever its handler.
protocol ServingWorker: Sendable {
    var number: Int { get }
    func serve(shutdown: ShutdownGuard, logger: Logger, board: WorkerBoard?) -> WorkerEnd
}

/// One `/next` → handle → post loop with a Runtime API connection and a handler of its own.
///
/// A reference type only so that it can be handed to the thread that runs it; from then on that
/// thread alone uses it (`@unchecked Sendable` stands for exactly that hand-over).
final class Worker<Handler: LambdaHandler>: ServingWorker, @unchecked Sendable {
    let number: Int
    private let runtime: RuntimeClient
    private var handler: Handler
    private let retry: NextRetryPolicy

    init(number: Int, runtime: RuntimeClient, handler: Handler, retry: NextRetryPolicy = .standard) {
        self.number = number
        self.runtime = runtime
        self.handler = handler
        self.retry = retry
    }

    /// Serves invocations until something stops the process; says what. With `board` (other
    /// workers beside it), it also stops polling once another worker has ended the process: an
    /// invocation taken now would be lost with the process.
    func serve(shutdown: ShutdownGuard, logger: Logger, board: WorkerBoard? = nil) -> WorkerEnd {
        let ending = WorkerEnd(reason: "the process is ending")
        var failures = 0
        var failingSince = 0
        func recovered() {
            guard failures > 0 else { return }
            logger.log(.info, "/next works again", ["worker": .int(number), "failedAttempts": .int(failures),
                                                    "ms": .int(MonotonicClock.nowMilliseconds() - failingSince)])
            failures = 0
        }
        while true {
            if board?.hasEnded == true { return ending }
            let invocation: Invocation
            let polledAt = MonotonicClock.nowMilliseconds()
            do {
                invocation = try runtime.next()
            } catch .invalidInvocation(let requestID, let problem) {
                recovered()
                if let end = answerUnusable(requestID: requestID, problem: problem, shutdown: shutdown, logger: logger) {
                    return end
                }
                continue
            } catch {
                // Whatever the old connection holds (a half-read answer, a peer that reset it)
                // is not trusted again.
                runtime.disconnect()
                if board?.hasEnded == true { return ending }
                let now = MonotonicClock.nowMilliseconds()
                if retry.restartsTheCount(error, held: now - polledAt) { failures = 0 }
                if failures == 0 { failingSince = now }
                failures += 1
                let elapsed = now - failingSince
                if retry.givesUp(attempts: failures, elapsedMilliseconds: elapsed) {
                    return WorkerEnd(reason: "\(error); /next failed \(failures) times in a row over \(elapsed) ms, giving up")
                }
                let pause = retry.pauseMilliseconds(after: failures)
                logger.log(.warn, "\(error); retrying /next on a fresh connection", [
                    "worker": .int(number), "attempt": .int(failures), "retryInMs": .int(pause)])
                Self.sleep(milliseconds: pause)
                continue
            }
            recovered()
            if let end = handle(invocation, shutdown: shutdown, logger: logger) { return end }
        }
    }

    private func handle(_ invocation: Invocation, shutdown: ShutdownGuard, logger: Logger) -> WorkerEnd? {
        let deadline = invocation.context.deadlineMilliseconds
        shutdown.beginInvocation(deadline: deadline)
        defer { shutdown.endInvocation(deadline: deadline) }
        let requestID = invocation.context.requestID
        let answer: Result<[UInt8], FunctionError>
        do {
            answer = .success(try handler.handle(invocation))
        } catch {
            answer = .failure(error)
        }
        do {
            handler.afterResponse(try LambdaRuntime.deliver(answer, for: requestID, to: runtime, logger: logger))
            return nil
        } catch {
            // The invocation's log line comes first, then whatever stops the process.
            handler.afterResponse(.failed)
            return WorkerEnd(reason: "\(error)", requestID: requestID)
        }
    }

    /// An invocation whose request id is known but whose other headers are unusable is answered
    /// with an error (the handler never sees it), so the caller learns why instead of waiting
    /// for the timeout, and the worker goes on.
    private func answerUnusable(requestID: String, problem: RuntimeAPIError, shutdown: ShutdownGuard, logger: Logger) -> WorkerEnd? {
        shutdown.beginInvocation(deadline: nil)
        defer { shutdown.endInvocation(deadline: nil) }
        logger.log(.error, "invocation not handled: \(problem)", requestID: requestID, ["errorType": "InvalidRuntimeHeaders"])
        let error = FunctionError(.runtime, type: "InvalidRuntimeHeaders",
                                  message: "the Runtime API delivered this invocation with unusable headers: \(problem)")
        do {
            _ = try LambdaRuntime.deliver(.failure(error), for: requestID, to: runtime, logger: logger)
            return nil
        } catch {
            return WorkerEnd(reason: "\(error)", requestID: requestID)
        }
    }

    private static func sleep(milliseconds: Int) {
        var request = timespec(tv_sec: milliseconds / 1000, tv_nsec: (milliseconds % 1000) * 1_000_000)
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}

/// Where the workers say they stopped, and the main thread waits for the process's end: the
/// first worker that stops ends it.
final class WorkerBoard: Sendable {
    private let first = Lock<WorkerEnd?>(nil)
    private let ended = OneShotSignal()

    func report(_ end: WorkerEnd) {
        let decisive = first.withLock { first -> Bool in
            guard first == nil else { return false }
            first = end
            return true
        }
        if decisive { ended.fire() }
    }

    var hasEnded: Bool { first.withLock { $0 != nil } }

    /// Blocks until the process must stop; what stopped it.
    func waitForTheEnd() -> WorkerEnd {
        ended.wait()
        return first.withLock { $0! }
    }
}

/// A semaphore that is posted once: `wait` returns once `fire` has run.
final class OneShotSignal: @unchecked Sendable {
    // sem_t must not move: it lives in memory of its own.
    private let semaphore: UnsafeMutablePointer<sem_t>

    init() {
        semaphore = .allocate(capacity: 1)
        sem_init(semaphore, 0, 0)
    }

    deinit {
        sem_destroy(semaphore)
        semaphore.deallocate()
    }

    func fire() { sem_post(semaphore) }

    func wait() {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}

/// Detached POSIX threads for the workers: their loops block in system calls, which is what
/// threads are for (Swift's cooperative pool would have one worker hold a pool thread for as
/// long as it waits on `/next`).
enum WorkerThread {
    /// `false` when the thread could not be created.
    static func start(_ body: @escaping @Sendable () -> Void) -> Bool {
        final class Box: @unchecked Sendable {
            let body: @Sendable () -> Void
            init(_ body: @escaping @Sendable () -> Void) { self.body = body }
        }
        let context = Unmanaged.passRetained(Box(body)).toOpaque()
        var thread = pthread_t()
        let created = pthread_create(&thread, nil, { context in
            Unmanaged<Box>.fromOpaque(context!).takeRetainedValue().body()
            return nil
        }, context)
        guard created == 0 else {
            Unmanaged<Box>.fromOpaque(context).release()
            return false
        }
        pthread_detach(thread)
        return true
    }
}
