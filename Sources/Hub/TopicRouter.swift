/// The routing table of one hub shard: which subscriptions want which destination.
///
/// Exact subscriptions are found by hashing; patterns are few in practice and checked one by
/// one. Generic over the subscription key so that it is unit-tested without connections.
public struct TopicRouter<Key: Hashable> {
    private var exact: [Destination: Set<Key>] = [:]
    private var patterns: [Destination: Set<Key>] = [:]
    private var destinationOf: [Key: Destination] = [:]

    public init() {}

    public var isEmpty: Bool { destinationOf.isEmpty }
    public var count: Int { destinationOf.count }

    public mutating func add(_ key: Key, for destination: Destination) {
        remove(key)
        destinationOf[key] = destination
        if destination.isPattern {
            patterns[destination, default: []].insert(key)
        } else {
            exact[destination, default: []].insert(key)
        }
    }

    public mutating func remove(_ key: Key) {
        guard let destination = destinationOf.removeValue(forKey: key) else { return }
        if destination.isPattern {
            patterns[destination]?.remove(key)
            if patterns[destination]?.isEmpty == true { patterns[destination] = nil }
        } else {
            exact[destination]?.remove(key)
            if exact[destination]?.isEmpty == true { exact[destination] = nil }
        }
    }

    /// The destination `key` subscribes to, if it is subscribed.
    public func destination(of key: Key) -> Destination? { destinationOf[key] }

    /// Whether some subscription is to exactly `destination` (or to the pattern `destination`).
    public func hasSubscriptions(to destination: Destination) -> Bool {
        destination.isPattern ? patterns[destination] != nil : exact[destination] != nil
    }

    /// Whether any subscription is to a pattern.
    public var hasPatterns: Bool { !patterns.isEmpty }

    /// Every subscription that wants a message sent to `destination`.
    public func subscribers(of destination: Destination) -> [Key] {
        var keys = Array(exact[destination] ?? [])
        for (pattern, subscribers) in patterns where pattern.matches(destination) {
            keys.append(contentsOf: subscribers)
        }
        return keys
    }

    /// Subscription counts by subscribed destination (patterns included), for listings.
    public var counts: [Destination: Int] {
        var result: [Destination: Int] = [:]
        for (destination, keys) in exact { result[destination] = keys.count }
        for (destination, keys) in patterns { result[destination] = keys.count }
        return result
    }
}
