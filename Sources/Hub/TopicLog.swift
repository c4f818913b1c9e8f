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
    }

    /// Bytes a topic's state costs beyond its messages (the memory budget's fixed share).
    static let overhead = 256

    let destination: Destination
    let epoch: String
    private(set) var lastOffset: UInt64 = 0
    private(set) var policy: ChannelPolicy
    private(set) var retained = CircularBuffer<Retained>()
    private(set) var presence = PresenceSet()
    /// Bytes of retained messages and presence entries (not `overhead`).
    private(set) var bytes = 0
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
        let size = Self.cost(of: message)
        retained.append(Retained(message: message, at: now, bytes: size))
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

    /// Applies a subscription's join or leave; returns whether it is an event (a user's first
    /// join, last leave) and the change in `bytes`. Ignored without `presence`.
    func presenceChanged(user: String?, data: String?, joined: Bool, now: NIODeadline) -> (event: Bool, delta: Int) {
        guard policy.presence else { return (false, 0) }
        lastActivity = now
        let before = presence.bytes
        let event = joined ? presence.join(user: user, data: data) : presence.leave(user: user)
        let delta = presence.bytes - before
        bytes += delta
        return (event, delta)
    }

    /// Reads retained messages for a resume, `perigee-history` or the history API.
    ///
    /// - Parameters:
    ///   - since: resume after this position; nil when not resuming (then `recovered` is
    ///     true). `.malformed` is never recovered.
    ///   - last: without a successful resume, the newest this many retained messages.
    ///   - limit: at most this many messages (the oldest first when resuming, the newest when
    ///     not).
    ///   - maxBytes: a resume that would need more is not recovered (one replay must fit the
    ///     session's output bound).
    func read(since: ReplayRequest.Since, last: Int, limit: Int, maxBytes: Int, now: NIODeadline) -> (page: HistoryPage, freed: Int) {
        let freed = trim(now: now)
        lastActivity = now
        var recovered = true
        if case .position(let position) = since {
            recovered = false
            if position.epoch == epoch, position.offset <= lastOffset, position.offset &+ 1 >= firstRetainedOffset {
                // Every message after `position` is still retained (or none came since).
                let start = Int(position.offset &+ 1 &- firstRetainedOffset)
                let available = retained.count - start
                let count = min(available, max(0, limit))
                var size = 0
                var messages: [HubMessage] = []
                messages.reserveCapacity(count)
                for index in 0..<count {
                    let entry = retained[retained.index(retained.startIndex, offsetBy: start + index)]
                    size += entry.bytes
                    messages.append(entry.message)
                }
                if size <= maxBytes {
                    return (HistoryPage(head: head, recovered: true, messages: messages, truncated: count < available), freed)
                }
            }
        } else if case .malformed = since {
            recovered = false
        }
        // Not resuming, or resuming failed: the newest `last` (bounded by `limit` and bytes).
        let wanted = min(retained.count, max(0, min(last, limit)))
        var size = 0
        var taken = 0
        while taken < wanted {
            let entry = retained[retained.index(retained.startIndex, offsetBy: retained.count - 1 - taken)]
            guard size + entry.bytes <= maxBytes else { break }
            size += entry.bytes
            taken += 1
        }
        var messages: [HubMessage] = []
        messages.reserveCapacity(taken)
        for index in (retained.count - taken)..<retained.count {
            messages.append(retained[retained.index(retained.startIndex, offsetBy: index)].message)
        }
        return (HistoryPage(head: head, recovered: recovered, messages: messages, truncated: false), freed)
    }

    /// What a retained message counts against the budget: body, headers and a fixed share.
    static func cost(of message: HubMessage) -> Int {
        var size = 160 + message.body.readableBytes + message.id.utf8.count
        for (name, value) in message.headers { size += name.utf8.count + value.utf8.count + 32 }
        return size
    }
}

@available(*, unavailable)
extension TopicLog: Sendable {}
