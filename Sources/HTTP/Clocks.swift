#if canImport(Glibc)
import Glibc
#endif

// The two clocks time-outs and deadlines are measured on.

public enum MonotonicClock {
    /// For durations: never jumps when the wall clock is adjusted.
    public static func nowNanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }

    /// Whole milliseconds, for deadlines.
    public static func nowMilliseconds() -> Int {
        Int(nowNanoseconds() / 1_000_000)
    }

    public static func millisecondsSince(_ start: UInt64) -> Double {
        Double(nowNanoseconds() &- start) / 1_000_000
    }
}

public enum WallClock {
    /// The deadline is wall-clock time, so remaining time must be measured on the same clock.
    public static func nowMilliseconds() -> Int64 {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Int64(spec.tv_sec) * 1000 + Int64(spec.tv_nsec) / 1_000_000
    }
}
