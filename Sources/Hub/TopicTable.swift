import NIOCore

/// The topics one shard owns: the ordering point, history and presence of every topic whose
/// name hashes to this shard (`Hub.topicOwner`), on the shard's loop.
///
/// **Ordering point.** Every publish to a topic, from any transport and any event loop, hops
/// to the topic's owner shard, which numbers it (`TopicLog.append`), retains it, and only
/// then fans it out to the shards with subscribers. Each shard therefore receives a topic's
/// messages in offset order, and a resume (`read`) that the owner answers after a new
/// subscription advertised its interest sees a seam with nothing missing and nothing twice:
/// messages numbered before the answer are in the replay, those after reach the subscription
/// live.
///
/// **Presence.** The presence set of a destination lives in its `TopicLog` too, so joins,
/// leaves and their events are ordered with the topic's messages.
///
/// **Several gateways (later).** With gateways sharing topics through a broker (RabbitMQ),
/// the ordering point moves to the broker: one stream per topic (a RabbitMQ stream or a
/// single-active-consumer queue) whose offsets become `perigee-offset`, and whose identity
/// (recreated stream) becomes the epoch; each gateway's owner shard then only relays the
/// broker's numbering and keeps a cache of the tail for resume. Presence moves to the broker
/// as per-gateway membership deltas on a presence exchange (each gateway publishes the joins
/// and leaves of its own sessions, and drops a dead gateway's members when its heartbeat stops);
/// the events are emitted where the user's count crosses zero, which needs the counts keyed by
/// (user, gateway) so that one gateway's restart does not make the user leave everywhere.
///
/// **Memory.** Retained messages and presence entries count against this shard's `budget` (its
/// equal share of `HubConfiguration.maxHistoryBytes`); past it the oldest retained message of
/// the shard goes first, whatever its topic. A topic's own state is not counted there (so that
/// many topics can never push out the history of others): it exists only while the topic has
/// retained messages, presence or an exact subscriber, or was published to within a sweep
/// interval, so it is bounded by those; a topic with none of them is forgotten (a later
/// publish starts a new epoch). Reading a topic that keeps no history creates nothing.
final class TopicTable {
    private struct Mark {
        var log: TopicLog
        var offset: UInt64
    }

    /// How often idle topics are forgotten and expired messages dropped.
    static let sweepInterval = TimeAmount.seconds(10)

    private var logs: [Destination: TopicLog] = [:]
    /// Retained messages in the order they were retained, across topics, for the budget:
    /// entries whose message has already left (count, age) are skipped when reached, and the
    /// list is compacted when they outnumber the live ones.
    private var order = CircularBuffer<Mark>()
    private var retainedCount = 0
    private(set) var bytes = 0
    private var budget: Int
    private var policyOf: @Sendable (Destination) -> ChannelPolicy

    init(configuration: HubConfiguration, shardCount: Int) {
        self.budget = configuration.maxHistoryBytes / max(1, shardCount)
        self.policyOf = configuration.channelPolicy
    }

    var isEmpty: Bool { logs.isEmpty }
    var topicCount: Int { logs.count }

    func existing(_ destination: Destination) -> TopicLog? { logs[destination] }

    /// The log of `destination`, created (a new epoch) when there is none.
    func log(for destination: Destination, now: NIODeadline) -> TopicLog {
        if let log = logs[destination] { return log }
        let log = TopicLog(destination: destination, policy: policyOf(destination), now: now)
        logs[destination] = log
        return log
    }

    /// The policy a topic without a log would get (asked only for such topics).
    func policy(for destination: Destination) -> ChannelPolicy {
        logs[destination]?.policy ?? policyOf(destination)
    }

    /// Numbers (and retains) a published message; then keeps the budget.
    func append(_ message: inout HubMessage, to log: TopicLog, now: NIODeadline) {
        let retainedBefore = log.retained.count
        let delta = log.append(&message, now: now)
        bytes += delta
        retainedCount += log.retained.count - retainedBefore
        if log.policy.history > 0, let offset = message.position?.offset {
            order.append(Mark(log: log, offset: offset))
        }
        enforceBudget()
        compactOrderIfStale()
    }

    /// A replay or history read (see `TopicLog.read`).
    func read(_ log: TopicLog, since: ReplayRequest.Since, last: Int, limit: Int, maxBytes: Int, now: NIODeadline) -> HistoryPage {
        let before = log.retained.count
        let (page, freed) = log.read(since: since, last: last, limit: limit, maxBytes: maxBytes, now: now)
        bytes -= freed
        retainedCount -= before - log.retained.count
        return page
    }

    /// A presence join or leave; returns the event it makes, if any.
    func presenceChanged(_ log: TopicLog, _ key: PresenceSet.Key, user: String?, data: String?, joined: Bool, now: NIODeadline)
        -> (user: String, data: String?)?
    {
        let (event, delta) = log.presenceChanged(key, user: user, data: data, joined: joined, now: now)
        bytes += delta
        enforceBudget()
        return event
    }

    /// New settings (a reload): each topic's policy is asked again and applied now.
    func reconfigure(_ configuration: HubConfiguration, shardCount: Int, now: NIODeadline) {
        budget = configuration.maxHistoryBytes / max(1, shardCount)
        policyOf = configuration.channelPolicy
        for log in logs.values {
            let before = log.retained.count
            bytes -= log.reconfigure(policyOf(log.destination), now: now)
            retainedCount -= before - log.retained.count
        }
        enforceBudget()
        compactOrderIfStale()
    }

    /// Drops expired messages and forgets idle topics (`isSubscribed`: whether any shard has an
    /// exact subscription to it).
    func sweep(now: NIODeadline, isSubscribed: (Destination) -> Bool) {
        for (destination, log) in logs {
            let before = log.retained.count
            bytes -= log.trim(now: now)
            retainedCount -= before - log.retained.count
            if log.retained.isEmpty, log.presence.isEmpty, now - log.lastActivity >= Self.sweepInterval, !isSubscribed(destination) {
                logs[destination] = nil
            }
        }
        compactOrderIfStale()
    }

    /// Drops the shard's oldest retained messages while past the budget.
    private func enforceBudget() {
        while bytes > budget, let mark = order.popFirst() {
            guard isLive(mark), let freed = mark.log.dropOldest() else { continue }
            bytes -= freed
            retainedCount -= 1
        }
    }

    /// Whether `mark` is still the oldest retained message of its (still known) topic.
    private func isLive(_ mark: Mark) -> Bool {
        guard logs[mark.log.destination] === mark.log else { return false }
        return mark.log.retained.first?.message.position?.offset == mark.offset
    }

    private func compactOrderIfStale() {
        guard order.count > 2 * retainedCount + 1_024 else { return }
        var kept = CircularBuffer<Mark>(initialCapacity: retainedCount + 16)
        for mark in order where logs[mark.log.destination] === mark.log {
            let log = mark.log
            if mark.offset >= log.firstRetainedOffset, mark.offset <= log.lastOffset { kept.append(mark) }
        }
        order = kept
    }
}

@available(*, unavailable)
extension TopicTable: Sendable {}
