/// A STOMP destination the hub understands: `/topic/NAME` (publish-subscribe) or
/// `/queue/NAME` (point-to-point). Names are dot-separated words; in subscriptions to topics
/// `*` stands for exactly one word and `#` for zero or more, as in RabbitMQ's topic exchange.
public struct Destination: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable {
        case topic
        case queue
    }

    public let kind: Kind
    public let name: String
    /// `name` split at dots.
    public let words: [Substring]

    /// Parses a destination; nil when it is neither `/topic/…` nor `/queue/…` or the name is
    /// empty, has an empty word, or (unless `allowWildcards`) contains a wildcard word.
    public init?(_ text: String, allowWildcards: Bool = false) {
        let kind: Kind
        let name: Substring
        if text.hasPrefix("/topic/") {
            kind = .topic
            name = text.dropFirst("/topic/".count)
        } else if text.hasPrefix("/queue/") {
            kind = .queue
            name = text.dropFirst("/queue/".count)
        } else {
            return nil
        }
        let words = name.split(separator: ".", omittingEmptySubsequences: false)
        guard !name.isEmpty, name.utf8.count <= 255, !words.contains(where: \.isEmpty) else { return nil }
        let hasWildcard = words.contains { $0 == "*" || $0 == "#" }
        if hasWildcard && !(allowWildcards && kind == .topic) { return nil }
        // A wildcard must be a whole word: "stocks.a*" is not a pattern.
        if words.contains(where: { $0 != "*" && $0 != "#" && ($0.contains("*") || $0.contains("#")) }) { return nil }
        self.kind = kind
        self.name = String(name)
        self.words = words
    }

    /// Whether this is a pattern rather than one destination.
    public var isPattern: Bool { words.contains { $0 == "*" || $0 == "#" } }

    public var description: String { "/\(kind.rawValue)/\(name)" }

    /// Whether the pattern `self` matches the concrete destination `other`.
    public func matches(_ other: Destination) -> Bool {
        guard kind == other.kind else { return false }
        guard isPattern else { return name == other.name }
        return Self.match(words[...], other.words[...])
    }

    private static func match(_ pattern: ArraySlice<Substring>, _ words: ArraySlice<Substring>) -> Bool {
        guard let head = pattern.first else { return words.isEmpty }
        switch head {
        case "#":
            // Zero or more words: try every split, shortest first.
            var rest = words
            while true {
                if match(pattern.dropFirst(), rest) { return true }
                guard !rest.isEmpty else { return false }
                rest = rest.dropFirst()
            }
        case "*":
            guard !words.isEmpty else { return false }
            return match(pattern.dropFirst(), words.dropFirst())
        default:
            guard let first = words.first, first == head else { return false }
            return match(pattern.dropFirst(), words.dropFirst())
        }
    }
}
