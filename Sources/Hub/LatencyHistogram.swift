/// Counts of durations in fixed buckets, kept as plain integers by the one event loop that
/// records into it (a shard), and added up across shards by `Hub.statistics`. Rendered as a
/// Prometheus histogram (cumulative `le` buckets, `_sum`, `_count`) by the gateway.
///
/// Recording is a short scan over `bounds` and three integer additions: no allocation, no
/// atomic operation, so a shard can afford it once per published message.
public struct LatencyHistogram: Sendable, Hashable {
    /// Upper bounds of the buckets in nanoseconds, ascending: 100 µs to 5 s.
    public static let bounds: [Int64] = [
        100_000, 250_000, 500_000,
        1_000_000, 2_500_000, 5_000_000,
        10_000_000, 25_000_000, 50_000_000,
        100_000_000, 250_000_000, 500_000_000,
        1_000_000_000, 2_500_000_000, 5_000_000_000,
    ]

    /// Samples per bucket (not cumulative): `counts[i]` holds the samples above
    /// `bounds[i - 1]` and at most `bounds[i]`; the last element holds those above every bound.
    public private(set) var counts = [UInt64](repeating: 0, count: Self.bounds.count + 1)
    /// The sum of every sample, in nanoseconds.
    public private(set) var sumNanoseconds: UInt64 = 0
    /// How many samples were recorded.
    public private(set) var count: UInt64 = 0

    public init() {}

    /// Records one duration in nanoseconds; a negative one (clock oddities) counts as zero.
    public mutating func record(nanoseconds: Int64) {
        let value = max(nanoseconds, 0)
        var index = 0
        while index < Self.bounds.count && value > Self.bounds[index] { index += 1 }
        counts[index] &+= 1
        sumNanoseconds &+= UInt64(value)
        count &+= 1
    }

    mutating func add(_ other: LatencyHistogram) {
        for index in counts.indices { counts[index] &+= other.counts[index] }
        sumNanoseconds &+= other.sumNanoseconds
        count &+= other.count
    }
}
