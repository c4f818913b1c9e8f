/// Who holds subscriptions to one destination with presence: each user with a count of
/// subscriptions (across sessions, transports and shards), and anonymous subscriptions as a
/// count. Lives in the destination's `TopicLog` at its owner shard, which applies joins and
/// leaves in the order each shard sent them (a subscription's join always before its leave).
///
/// Each subscription is known by its `Key`, so a leave counts only against its own join: one
/// whose join was never counted (presence was off then, or cleared by a reload since) changes
/// nothing.
struct PresenceSet {
    /// A subscription: its connection (`StompConnection.id`, unique in the hub) and its
    /// generation within that session.
    struct Key: Hashable {
        var connection: UInt64
        var generation: UInt64
    }

    private struct Entry {
        var count: Int
        var data: String?
    }

    /// Every counted subscription, with its user (nil: anonymous).
    private var members: [Key: String?] = [:]
    private var users: [String: Entry] = [:]
    private(set) var anonymous = 0

    var isEmpty: Bool { members.isEmpty }

    /// Bytes held, for the history memory budget: ids and data texts plus a fixed overhead
    /// per user and per subscription.
    private(set) var bytes = 0

    /// Counts a subscription; true when it is its user's first (a `join` event is due).
    mutating func join(_ key: Key, user: String?, data: String?) -> Bool {
        guard members[key] == nil else { return false }
        members[key] = .some(user)
        bytes += 48
        guard let user else {
            anonymous += 1
            return false
        }
        if var entry = users[user] {
            entry.count += 1
            users[user] = entry
            return false
        }
        users[user] = Entry(count: 1, data: data)
        bytes += Self.cost(user, data)
        return true
    }

    /// Removes a subscription; returns its user when it was that user's last (a `leave` event
    /// is due), with the data the user joined with.
    mutating func leave(_ key: Key) -> (user: String, data: String?)? {
        guard let member = members.removeValue(forKey: key) else { return nil }
        bytes -= 48
        guard let user = member else {
            anonymous -= 1
            return nil
        }
        guard var entry = users[user] else { return nil }
        entry.count -= 1
        if entry.count > 0 {
            users[user] = entry
            return nil
        }
        users[user] = nil
        bytes -= Self.cost(user, entry.data)
        return (user, entry.data)
    }

    var snapshot: PresenceSnapshot {
        let list = users.map { PresenceSnapshot.Member(user: $0.key, sessions: $0.value.count, data: $0.value.data) }
        return PresenceSnapshot(members: list.sorted { $0.user < $1.user }, anonymous: anonymous)
    }

    private static func cost(_ user: String, _ data: String?) -> Int {
        96 + user.utf8.count + (data?.utf8.count ?? 0)
    }
}
