import NIOConcurrencyHelpers

/// Which shards have topic subscribers for which destination, so that a publish hops only to
/// the event loops that will deliver it (a shard with no subscriber for a topic costs that
/// topic's publishes nothing).
///
/// Shards write it only when their interest changes (a destination's first subscription on the
/// shard arrives, or its last leaves); every topic publish reads it once. A shard updates it
/// before the SUBSCRIBE's RECEIPT is written, so a publish that starts after the client saw
/// the RECEIPT always reaches the new subscription.
///
/// Shard sets are bit masks; a hub with more than 64 shards does not track interest and
/// publishes to every shard.
final class HubInterest: Sendable {
    private struct Table {
        /// Exact (wildcard-free) destinations → the shards with a subscription to them.
        var exact: [Destination: UInt64] = [:]
        /// The shards with at least one pattern subscription: they see every topic publish.
        var patterns: UInt64 = 0
    }

    private let table = NIOLockedValueBox(Table())
    private let everyShard: UInt64
    /// False past 64 shards: the hub then publishes to every shard without asking.
    let tracks: Bool

    init(shardCount: Int) {
        tracks = shardCount <= 64
        everyShard = shardCount >= 64 ? .max : (UInt64(1) << UInt64(shardCount)) - 1
    }

    /// The shards that must see a publish to `destination`, as a bit mask (bit i: shard i).
    func shards(for destination: Destination) -> UInt64 {
        guard tracks else { return everyShard }
        return table.withLockedValue { ($0.exact[destination] ?? 0) | $0.patterns }
    }

    /// Whether any shard has a subscription to exactly `destination` (pattern subscriptions
    /// aside). True when interest is not tracked.
    func hasExactSubscribers(_ destination: Destination) -> Bool {
        guard tracks else { return true }
        return table.withLockedValue { $0.exact[destination] != nil }
    }

    /// Records whether `shard` has subscriptions to the exact destination `destination`.
    func set(shard: Int, exact destination: Destination, interested: Bool) {
        guard tracks else { return }
        let bit = UInt64(1) << UInt64(shard)
        table.withLockedValue { table in
            let current = table.exact[destination] ?? 0
            let updated = interested ? current | bit : current & ~bit
            table.exact[destination] = updated == 0 ? nil : updated
        }
    }

    /// Records whether `shard` has any pattern subscription.
    func set(shard: Int, patterns interested: Bool) {
        guard tracks else { return }
        let bit = UInt64(1) << UInt64(shard)
        table.withLockedValue { table in
            table.patterns = interested ? table.patterns | bit : table.patterns & ~bit
        }
    }
}
