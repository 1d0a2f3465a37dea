#if canImport(Glibc)
import Glibc
#endif

/// State behind a `pthread_mutex_t`, shared by the workers. Synchronization's `Mutex` would do
/// the same, but on Linux it waits in futex calls that ThreadSanitizer cannot see, and TSan then
/// reports races that are not there; `make sanitize` checks the workers, so the locks they share
/// are ones TSan understands.
final class Lock<State>: @unchecked Sendable {
    // pthread_mutex_t must not move: it lives in memory of its own. So does the state: a stored
    // property would get Swift's dynamic exclusivity checks, which TSan sees as accesses made
    // outside the lock.
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let state: UnsafeMutablePointer<State>

    init(_ initial: State) {
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
    }

    deinit {
        state.deinitialize(count: 1)
        state.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<Result>(_ body: (inout State) throws -> Result) rethrows -> Result {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state.pointee)
    }
}
