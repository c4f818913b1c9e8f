/// Counters and gauges of the whole hub at one moment (`Hub.statistics`), for metrics and the
/// status page. Counters count since the process started.
public struct HubStatistics: Sendable, Hashable {
    /// Per transport name (`StompConnectionLabel.transport`).
    public struct Transport: Sendable, Hashable {
        /// Connections opened since start.
        public var opened: UInt64 = 0
        /// Connections open now.
        public var open: Int = 0
        public var traffic = StompTraffic()

        public init() {}
    }

    public var transports: [String: Transport] = [:]
    /// Sessions that completed CONNECT, by principal kind (`Principal.kind`).
    public var sessionsByKind: [String: Int] = [:]
    /// Topic subscriptions and queue consumers held now.
    public var subscriptions: Int = 0
    /// ERROR frames sent, by their `message` header (a fixed set of texts).
    public var errors: [String: UInt64] = [:]
    /// Limits reached, by `StompError.limit`.
    public var limits: [String: UInt64] = [:]
    /// Sessions dropped because they fell behind (ERROR `slow consumer`).
    public var slowConsumerDrops: UInt64 = 0
    /// Topic deliveries: a message handed to one subscription.
    public var deliveries: UInt64 = 0
    /// From a message's publication (`HubMessage.publishedAt`) to the moment a shard has
    /// handed it to its subscribers' connections (written, to be flushed within the tick):
    /// one sample per message and shard that delivered it.
    public var publishToWrite = LatencyHistogram()
    /// Topics whose order, history or presence is kept now (`TopicTable`).
    public var topics: Int = 0
    /// Bytes of retained history and presence, against `HubConfiguration.maxHistoryBytes`.
    public var historyBytes: Int = 0
    /// Resumes (`perigee-since`) answered, by outcome.
    public var resumesRecovered: UInt64 = 0
    public var resumesNotRecovered: UInt64 = 0

    public init() {}

    mutating func add(_ other: HubStatistics) {
        transports.merge(other.transports) { mine, theirs in
            var sum = mine
            sum.opened &+= theirs.opened
            sum.open += theirs.open
            sum.traffic = sum.traffic + theirs.traffic
            return sum
        }
        sessionsByKind.merge(other.sessionsByKind, uniquingKeysWith: +)
        subscriptions += other.subscriptions
        errors.merge(other.errors, uniquingKeysWith: &+)
        limits.merge(other.limits, uniquingKeysWith: &+)
        slowConsumerDrops &+= other.slowConsumerDrops
        deliveries &+= other.deliveries
        publishToWrite.add(other.publishToWrite)
        topics += other.topics
        historyBytes += other.historyBytes
        resumesRecovered &+= other.resumesRecovered
        resumesNotRecovered &+= other.resumesNotRecovered
    }
}
