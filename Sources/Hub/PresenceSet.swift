/// Who holds subscriptions to one destination with presence: each user with a count of
/// subscriptions (across sessions, transports and shards), and anonymous subscriptions as a
/// count. Lives in the destination's `TopicLog` at its owner shard, which applies joins and
/// leaves in the order each shard sent them (a subscription's join always before its leave).
struct PresenceSet {
    private struct Entry {
        var count: Int
        var data: String?
    }

    private var users: [String: Entry] = [:]
    private(set) var anonymous = 0

    var isEmpty: Bool { users.isEmpty && anonymous == 0 }

    /// Bytes held, for the history memory budget: ids and data texts plus a fixed overhead.
    private(set) var bytes = 0

    /// Adds a subscription; true when it is the user's first (a `join` event is due).
    mutating func join(user: String?, data: String?) -> Bool {
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

    /// Removes a subscription; true when it was the user's last (a `leave` event is due).
    /// A leave without its join (presence turned on after the subscription) changes nothing.
    mutating func leave(user: String?) -> Bool {
        guard let user else {
            anonymous = max(0, anonymous - 1)
            return false
        }
        guard var entry = users[user] else { return false }
        entry.count -= 1
        if entry.count > 0 {
            users[user] = entry
            return false
        }
        users[user] = nil
        bytes -= Self.cost(user, entry.data)
        return true
    }

    /// The data a user joined with (for its `leave` event).
    func data(of user: String) -> String? { users[user]?.data }

    var snapshot: PresenceSnapshot {
        let members = users.map { PresenceSnapshot.Member(user: $0.key, sessions: $0.value.count, data: $0.value.data) }
        return PresenceSnapshot(members: members.sorted { $0.user < $1.user }, anonymous: anonymous)
    }

    private static func cost(_ user: String, _ data: String?) -> Int {
        64 + user.utf8.count + (data?.utf8.count ?? 0)
    }
}
