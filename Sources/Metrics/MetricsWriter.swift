import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Writes EMF records to standard output, which Lambda sends to the function's log stream,
/// where CloudWatch Logs extracts the metrics.
public struct MetricsWriter: Sendable {
    public let configuration: MetricsConfiguration
    private let layout: EMFRecord.Layout
    private let fileDescriptor: Int32

    public init(configuration: MetricsConfiguration, fileDescriptor: Int32 = 1) {
        self.configuration = configuration
        layout = EMFRecord.Layout(configuration)
        self.fileDescriptor = fileDescriptor
    }

    public func write(_ figures: InvocationFigures) {
        var line = EMFRecord.line(figures, layout: layout, timestampMilliseconds: Self.nowMilliseconds())
        line.append("\n")
        // A record is well under PIPE_BUF (4 KiB), so one write(2) keeps it whole next to other
        // workers' records; the loop is for the rare short write or signal.
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(fileDescriptor, bytes.baseAddress! + offset, bytes.count - offset)
                if written <= 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}

/// Whether an invocation is the execution environment's first, as Powertools' `cold_start` means
/// it: one flag for the whole process, shared by every worker's handler, taken once.
public final class ColdStartFlag: Sendable {
    private let taken = Atomic<Bool>(false)

    public init() {}

    /// `true` exactly once: for the first caller.
    public func take() -> Bool {
        !taken.exchange(true, ordering: .relaxed)
    }
}
