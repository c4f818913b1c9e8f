import NIOConcurrencyHelpers

/// Bytes that went into permessage-deflate compression (RFC 7692) and came out of it, for an
/// operator's metrics. Shared by every connection of an endpoint and every event loop's
/// broadcast compressor, so it takes a lock; it is touched once per compressed message, which
/// already costs zlib microseconds, never per uncompressed write.
public final class DeflateStatistics: Sendable {
    private let totals = NIOLockedValueBox((input: UInt64(0), output: UInt64(0)))

    public init() {}

    /// Payload bytes before compression and compressed bytes (without the stripped 4-byte
    /// tail, without frame headers) since the start.
    public var bytes: (input: UInt64, output: UInt64) { totals.withLockedValue { $0 } }

    /// Counts one compressed message: `input` payload bytes became `output` bytes.
    public func record(input: Int, output: Int) {
        totals.withLockedValue { totals in
            totals.input &+= UInt64(max(input, 0))
            totals.output &+= UInt64(max(output, 0))
        }
    }
}
