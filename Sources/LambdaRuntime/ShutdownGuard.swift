import HTTP

#if canImport(Glibc)
import Glibc
#endif

/// Ends the process cleanly on SIGTERM or SIGINT, but never in the middle of an invocation.
///
/// The signals are blocked in every thread and collected by one waiting thread with `sigwait`,
/// so no async-signal-safety rules apply. A signal that arrives while no invocation runs (every
/// worker waiting on `/next`) ends the process at once; one that arrives mid-invocation ends it
/// right after the last invocation in flight has posted its answer. Once a worker has ended the
/// process (`waitUntilIdle`), a signal no longer ends it: the FATAL exit follows.
final class ShutdownGuard: Sendable {
    private struct State {
        var invocationsInFlight = 0
        /// The deadlines of the invocations in flight (nil: unknown), for `waitUntilIdle`.
        var deadlines: [Int64?] = []
        var pendingSignal: Int32?
        var ending = false
    }

    private let state = Lock(State())
    private let logger: Logger

    /// Must run on the main thread before any other thread starts, so all threads inherit the mask.
    init(logger: Logger) {
        self.logger = logger
        var signals = Self.signalSet()
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        var thread = pthread_t()
        let context = Unmanaged.passRetained(self).toOpaque()
        let started = pthread_create(&thread, nil, { context in
            let shutdown = Unmanaged<ShutdownGuard>.fromOpaque(context!).takeRetainedValue()
            shutdown.waitForSignal()
            return nil
        }, context)
        if started == 0 {
            pthread_detach(thread)
        } else {
            Unmanaged<ShutdownGuard>.fromOpaque(context).release()
            pthread_sigmask(SIG_UNBLOCK, &signals, nil)
        }
    }

    /// `deadline`: when Lambda stops the invocation, in milliseconds since 1970, if known.
    func beginInvocation(deadline: Int64?) {
        state.withLock { state in
            state.invocationsInFlight += 1
            state.deadlines.append(deadline)
        }
    }

    func endInvocation(deadline: Int64?) {
        let pending = state.withLock { state -> Int32? in
            state.invocationsInFlight -= 1
            if let index = state.deadlines.firstIndex(of: deadline) { state.deadlines.remove(at: index) }
            return state.invocationsInFlight == 0 && !state.ending ? state.pendingSignal : nil
        }
        if let pending { exitCleanly(pending) }
    }

    /// Blocks until no invocation is in flight, or the latest deadline among those in flight has
    /// passed, or `latest` (milliseconds since 1970) has: a worker has ended the process, and the
    /// answers the others are still working on would otherwise be lost with it. From now on a
    /// signal does not end the process. Says whether every invocation was answered.
    func waitUntilIdle(until latest: Int64) -> Bool {
        state.withLock { $0.ending = true }
        while true {
            let limit = state.withLock { state -> Int64? in
                guard state.invocationsInFlight > 0 else { return nil }
                return state.deadlines.reduce(Int64.min) { max($0, $1 ?? latest) }
            }
            guard let limit else { return true }
            if WallClock.nowMilliseconds() >= min(limit, latest) { return false }
            var pause = timespec(tv_sec: 0, tv_nsec: 10_000_000)
            nanosleep(&pause, nil)
        }
    }

    private func waitForSignal() {
        var signals = Self.signalSet()
        var received: Int32 = 0
        while sigwait(&signals, &received) != 0 {}
        let exitNow = state.withLock { state -> Bool in
            guard !state.ending else { return false }
            guard state.invocationsInFlight > 0 else { return true }
            state.pendingSignal = received
            return false
        }
        if exitNow { exitCleanly(received) }
    }

    private func exitCleanly(_ signal: Int32) {
        logger.log(.info, "shutting down: received \(signal == SIGTERM ? "SIGTERM" : "SIGINT")")
        // _exit, not exit: the main thread may be inside libcurl, and atexit handlers running
        // under it gain nothing.
        _exit(0)
    }

    private static func signalSet() -> sigset_t {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGTERM)
        sigaddset(&signals, SIGINT)
        return signals
    }
}
