#if canImport(Glibc)
import Glibc
#endif

/// The open-file limit (`RLIMIT_NOFILE`), checked once at init so that N workers either fit or
/// init fails saying so, instead of invocations failing one at a time later.
///
/// A worker holds four descriptors while it serves: its Runtime API connection, its SageMaker
/// connection, and the socket pair libcurl keeps to wake its own poll. It holds up to three more
/// for a moment whenever its SageMaker connection is made afresh: libcurl's threaded name lookup
/// takes a socket pair, and the lookup a DNS socket (or a file it reads: resolv.conf, hosts). On
/// a cold burst every worker looks the name up at the same moment, so the three count for every
/// worker: 32 workers resolving at once through a loopback DNS server peaked at six a worker
/// (`strace` of their socket and close calls), and the seventh covers the lookup's file reads.
/// The margin covers what the process holds besides (standard streams, the CA bundle while it
/// loads).
enum DescriptorLimit {
    static let heldPerWorker = 4
    static let transientPerWorker = 3
    static let perWorker = heldPerWorker + transientPerWorker
    static let margin = 32

    static func needed(workers: Int) -> Int { workers * perWorker + margin }

    /// The most workers `limit` descriptors fit.
    static func mostWorkers(limit: Int) -> Int { max(0, (limit - margin) / perWorker) }

    /// Raises the soft limit to the hard limit (Lambda's soft and hard limits are both 1,024;
    /// elsewhere the soft one is often lower), then checks that `workers` fit.
    static func raise(toFit workers: Int) throws(FunctionError) {
        try check(workers: workers, limit: raiseSoftLimit())
    }

    static func check(workers: Int, limit: Int) throws(FunctionError) {
        guard needed(workers: workers) > limit else { return }
        let most = mostWorkers(limit: limit)
        throw FunctionError(
            .runtime, type: "InvalidConfiguration",
            message: "\(workers) workers (AWS_LAMBDA_MAX_CONCURRENCY) need \(needed(workers: workers)) file descriptors "
                + "(\(perWorker) per worker + \(margin)), but the open-file limit (RLIMIT_NOFILE) is \(limit): "
                + (most > 0 ? "at most \(most) workers fit" : "not even one worker fits"))
    }

    /// The soft limit after raising it as far as the hard limit allows.
    private static func raiseSoftLimit() -> Int {
        var limits = rlimit()
        guard getrlimit(resource, &limits) == 0 else { return Int.max }
        if limits.rlim_cur < limits.rlim_max {
            var raised = limits
            raised.rlim_cur = limits.rlim_max
            if setrlimit(resource, &raised) == 0 { limits = raised }
        }
        // RLIM_INFINITY is all ones, beyond any Int: clamped to Int.max.
        return Int(clamping: limits.rlim_cur)
    }

    private static var resource: __rlimit_resource_t { __rlimit_resource_t(RLIMIT_NOFILE.rawValue) }
}
