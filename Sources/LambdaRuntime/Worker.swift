#if canImport(Glibc)
import Glibc
#endif

/// Why a worker stopped serving.
struct WorkerEnd: Sendable {
    var error: RuntimeAPIError
    /// The invocation it was answering, if any.
    var requestID: String?
    /// The Runtime API answered a post with a 5xx: by its contract the environment cannot go on,
    /// so the whole process stops, whatever the other workers are doing.
    var isFatal: Bool
}

/// One `/next` → handle → post loop with a Runtime API connection and a handler of its own.
///
/// A reference type only so that it can be handed to the thread that runs it; from then on that
/// thread alone uses it (`@unchecked Sendable` stands for exactly that hand-over).
final class Worker<Handler: LambdaHandler>: @unchecked Sendable {
    let number: Int
    private let runtime: RuntimeClient
    private var handler: Handler

    init(number: Int, runtime: RuntimeClient, handler: Handler) {
        self.number = number
        self.runtime = runtime
        self.handler = handler
    }

    /// Serves invocations until something stops this worker; says what.
    func serve(shutdown: ShutdownGuard, logger: Logger) -> WorkerEnd {
        while true {
            let invocation: Invocation
            do {
                invocation = try runtime.next()
            } catch {
                return WorkerEnd(error: error, requestID: nil, isFatal: false)
            }
            shutdown.beginInvocation()
            defer { shutdown.endInvocation() }

            let requestID = invocation.context.requestID
            let answer: Result<[UInt8], FunctionError>
            do {
                answer = .success(try handler.handle(invocation))
            } catch {
                answer = .failure(error)
            }
            do {
                handler.afterResponse(try LambdaRuntime.deliver(answer, for: requestID, to: runtime, logger: logger))
            } catch {
                // The invocation's log line comes first, then whatever stops the worker.
                handler.afterResponse(.failed)
                if case .unexpectedStatus = error {
                    return WorkerEnd(error: error, requestID: requestID, isFatal: true)
                }
                return WorkerEnd(error: error, requestID: requestID, isFatal: false)
            }
        }
    }
}

/// Where the workers say they stopped, and the main thread waits for the process's end: a fatal
/// stop, or the last worker gone.
final class WorkerBoard: Sendable {
    private struct State {
        var running: Int
        var last: WorkerEnd?
    }

    private let count: Int
    private let state: Lock<State>
    private let ended = OneShotSignal()

    init(count: Int) {
        self.count = count
        state = Lock(State(running: count))
    }

    func report(_ end: WorkerEnd, of number: Int, logger: Logger) {
        let (left, decisive) = state.withLock { state -> (Int, Bool) in
            state.running -= 1
            let decisive = state.last == nil && (end.isFatal || state.running == 0)
            if decisive { state.last = end }
            return (state.running, decisive)
        }
        if !end.isFatal && left > 0 {
            logger.log(.error, "worker \(number) stopped: \(end.error); \(left) of \(count) workers go on", requestID: end.requestID)
        }
        if decisive { ended.fire() }
    }

    /// Blocks until the process must stop; what stopped it.
    func waitForTheEnd() -> WorkerEnd {
        ended.wait()
        return state.withLock { $0.last! }
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
