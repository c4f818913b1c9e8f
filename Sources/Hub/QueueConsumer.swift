/// A subscription to a queue, as its owner shard knows it: where the subscribing session
/// lives and how to find the subscription there.
struct QueueConsumer: Sendable, Hashable {
    var shard: Int
    var connection: UInt64
    var subscription: String
    /// Which subscription of that id (ids may be reused after UNSUBSCRIBE).
    var generation: UInt64
    /// Whether the subscription acknowledges (`client`, `client-individual`): its messages stay
    /// in flight, counted against the queue's limit, until settled. Not part of its identity.
    var needsAck: Bool

    static func == (lhs: QueueConsumer, rhs: QueueConsumer) -> Bool {
        lhs.shard == rhs.shard && lhs.connection == rhs.connection && lhs.subscription == rhs.subscription
            && lhs.generation == rhs.generation
    }

    func hash(into hasher: inout Hasher) {
        hasher.combine(shard)
        hasher.combine(connection)
        hasher.combine(subscription)
        hasher.combine(generation)
    }
}
