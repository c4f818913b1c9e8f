/// A subscription to a queue, as its owner shard knows it: where the subscribing session
/// lives and how to find the subscription there.
struct QueueConsumer: Sendable, Hashable {
    var shard: Int
    var connection: UInt64
    var subscription: String
}
