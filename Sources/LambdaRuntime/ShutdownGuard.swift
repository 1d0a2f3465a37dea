#if canImport(Glibc)
import Glibc
#endif

/// Ends the process cleanly on SIGTERM or SIGINT, but never in the middle of an invocation.
///
/// The signals are blocked in every thread and collected by one waiting thread with `sigwait`,
/// so no async-signal-safety rules apply. A signal that arrives while no invocation runs (every
/// worker waiting on `/next`) ends the process at once; one that arrives mid-invocation ends it
/// right after the last invocation in flight has posted its answer.
final class ShutdownGuard: Sendable {
    private struct State {
        var invocationsInFlight = 0
        var pendingSignal: Int32?
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

    func beginInvocation() {
        state.withLock { $0.invocationsInFlight += 1 }
    }

    func endInvocation() {
        let pending = state.withLock { state -> Int32? in
            state.invocationsInFlight -= 1
            return state.invocationsInFlight == 0 ? state.pendingSignal : nil
        }
        if let pending { exitCleanly(pending) }
    }

    private func waitForSignal() {
        var signals = Self.signalSet()
        var received: Int32 = 0
        while sigwait(&signals, &received) != 0 {}
        let exitNow = state.withLock { state -> Bool in
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
