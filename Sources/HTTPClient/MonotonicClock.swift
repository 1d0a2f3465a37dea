#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

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
