#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// CLOCK_MONOTONIC in nanoseconds. The clock is system-wide, so a timestamp written by one
/// process (a publisher) can be compared with a reading in another (a child's subscriber).
package enum MonotonicClock {
    @inline(__always)
    package static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) &* 1_000_000_000 &+ UInt64(spec.tv_nsec)
    }

    package static func seconds() -> Double {
        Double(nanoseconds()) / 1e9
    }
}
