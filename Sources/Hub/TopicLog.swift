import NIOCore

/// One topic's order, history and presence, kept by the topic's owner shard (its ordering
/// point, `TopicTable`). Every message published to the topic passes here once and gets the
/// next offset of the current epoch; with `ChannelPolicy.history`, the latest are retained
/// for resume and `perigee-history`.
///
/// Retained offsets are contiguous: messages are numbered one by one and leave only from the
/// oldest end (count, age, the shard's memory budget).
final class TopicLog {
    struct Retained {
        var message: HubMessage
        var at: NIODeadline
        var bytes: Int
        /// Bytes of every message retained in this log up to and including this one: the
        /// bytes between two entries are a subtraction, so a replay checks its size before it
        /// walks anything.
        var cumulative: Int
    }

    let destination: Destination
    let epoch: String
    private(set) var lastOffset: UInt64 = 0
    private(set) var policy: ChannelPolicy
    private(set) var retained = CircularBuffer<Retained>()
    private(set) var presence = PresenceSet()
    /// Bytes of retained messages and presence entries.
    private(set) var bytes = 0
    /// Bytes of every message retained since the log began (`Retained.cumulative`).
    private var appended = 0
    /// The last publish, replay or presence change: a topic idle past the sweep interval with
    /// nothing retained, present or subscribed is forgotten.
    var lastActivity: NIODeadline

    init(destination: Destination, policy: ChannelPolicy, now: NIODeadline) {
        self.destination = destination
        self.epoch = TopicPosition.newEpoch()
        self.policy = policy
        self.lastActivity = now
    }

    var head: TopicPosition { TopicPosition(epoch: epoch, offset: lastOffset) }

    /// The offset of the oldest retained message; `lastOffset + 1` when none is.
    var firstRetainedOffset: UInt64 {
        retained.first?.message.position?.offset ?? lastOffset &+ 1
    }

    /// Gives `message` the next position and retains it when the policy keeps history.
    /// Returns the change in `bytes`.
    func append(_ message: inout HubMessage, now: NIODeadline) -> Int {
        lastOffset &+= 1
        lastActivity = now
        message.position = TopicPosition(epoch: epoch, offset: lastOffset)
        guard policy.history > 0 else { return 0 }
        // Kept for minutes: a body that shares a larger buffer gets one of its own size.
        var kept = message
        kept.compactForRetention()
        let size = Self.cost(of: kept)
        appended += size
        retained.append(Retained(message: kept, at: now, bytes: size, cumulative: appended))
        bytes += size
        return size - trim(now: now)
    }

    /// Drops what the policy no longer keeps (beyond `history`, older than `history_ttl_s`);
    /// returns the bytes freed.
    func trim(now: NIODeadline) -> Int {
        var freed = 0
        while retained.count > policy.history, let dropped = dropOldest() { freed += dropped }
        if policy.historyTTLSeconds > 0 {
            let cutoff = now - .seconds(Int64(policy.historyTTLSeconds))
            while let first = retained.first, first.at <= cutoff, let dropped = dropOldest() { freed += dropped }
        }
        return freed
    }

    /// Drops the oldest retained message (the memory budget); returns its bytes.
    func dropOldest() -> Int? {
        guard let first = retained.popFirst() else { return nil }
        bytes -= first.bytes
        return first.bytes
    }

    /// Takes a new policy (a reload); returns the bytes freed.
    func reconfigure(_ policy: ChannelPolicy, now: NIODeadline) -> Int {
        self.policy = policy
        var freed = trim(now: now)
        if !policy.presence, !presence.isEmpty {
            freed += presence.bytes
            bytes -= presence.bytes
            presence = PresenceSet()
        }
        return freed
    }

    /// Applies a subscription's join or leave; returns the event it makes (a user's first
    /// join, last leave: the user and the data shown) and the change in `bytes`. Ignored
    /// without `presence`.
    func presenceChanged(_ key: PresenceSet.Key, user: String?, data: String?, joined: Bool, now: NIODeadline)
        -> (event: (user: String, data: String?)?, delta: Int)
    {
        guard policy.presence else { return (nil, 0) }
        lastActivity = now
        let before = presence.bytes
        var event: (user: String, data: String?)?
        if joined {
            if presence.join(key, user: user, data: data), let user { event = (user, data) }
        } else {
            event = presence.leave(key)
        }
        let delta = presence.bytes - before
        bytes += delta
        return (event, delta)
    }

    /// Reads retained messages for a resume, `perigee-history` or the history API. Costs
    /// O(1) to decide and O(messages returned) to copy, whatever the history's length: sizes
    /// come from `Retained.cumulative`.
    ///
    /// - Parameters:
    ///   - since: resume after this position; nil when not resuming (then `recovered` is
    ///     true). `.malformed` is never recovered.
    ///   - last: without a successful resume, the newest this many retained messages.
    ///   - limit: at most this many messages (the oldest first when resuming, the newest when
    ///     not); a resume cut by it is `truncated`.
    ///   - maxBytes: a resume that would need more is not recovered (one replay must fit the
    ///     session's output bound); the newest `last` stop there too.
    func read(since: ReplayRequest.Since, last: Int, limit: Int, maxBytes: Int, now: NIODeadline) -> (page: HistoryPage, freed: Int) {
        let freed = trim(now: now)
        var recovered = true
        if case .position(let position) = since {
            recovered = false
            if position.epoch == epoch, position.offset <= lastOffset, position.offset &+ 1 >= firstRetainedOffset {
                // Every message after `position` is still retained (or none came since).
                let start = Int(position.offset &+ 1 &- firstRetainedOffset)
                let available = retained.count - start
                let count = min(available, max(0, limit))
                if count == 0 || bytes(from: start, count: count) <= maxBytes {
                    let messages = copy(from: start, count: count)
                    return (HistoryPage(head: head, recovered: true, messages: messages, truncated: count < available), freed)
                }
            }
        } else if case .malformed = since {
            recovered = false
        }
        // Not resuming, or resuming failed: the newest `last` (bounded by `limit` and bytes),
        // found by halving on the cumulative sizes.
        var count = min(retained.count, max(0, min(last, limit)))
        if count > 0, bytes(from: retained.count - count, count: count) > maxBytes {
            var fits = 0
            var tooMany = count
            while tooMany - fits > 1 {
                let middle = (fits + tooMany) / 2
                if bytes(from: retained.count - middle, count: middle) <= maxBytes { fits = middle } else { tooMany = middle }
            }
            count = fits
        }
        let messages = copy(from: retained.count - count, count: count)
        return (HistoryPage(head: head, recovered: recovered, messages: messages, truncated: false), freed)
    }

    /// Bytes of `count` retained messages from position `start` (0: the oldest).
    private func bytes(from start: Int, count: Int) -> Int {
        guard count > 0 else { return 0 }
        let first = retained[retained.index(retained.startIndex, offsetBy: start)]
        let last = retained[retained.index(retained.startIndex, offsetBy: start + count - 1)]
        return last.cumulative - first.cumulative + first.bytes
    }

    private func copy(from start: Int, count: Int) -> [HubMessage] {
        guard count > 0 else { return [] }
        let lower = retained.index(retained.startIndex, offsetBy: start)
        let upper = retained.index(lower, offsetBy: count)
        return retained[lower..<upper].map(\.message)
    }

    /// What a retained message counts against the budget: its body's whole buffer, its
    /// headers and id with their string storage, and a fixed share for the entry, the message
    /// and its position (measured: about what the process's memory grows by per message).
    static func cost(of message: HubMessage) -> Int {
        var size = 384 + message.body.storageCapacity + message.id.utf8.count
        for (name, value) in message.headers { size += name.utf8.count + value.utf8.count + 64 }
        return size
    }
}

@available(*, unavailable)
extension TopicLog: Sendable {}
