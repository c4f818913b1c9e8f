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
    /// Whether this is a pattern (a subscription with a `*` or `#` word) rather than one
    /// destination.
    public let isPattern: Bool

    /// `name` split at dots. Computed when asked (pattern matching), so that a destination
    /// held by a subscription costs only its name.
    public var words: [Substring] { name.split(separator: ".", omittingEmptySubsequences: false) }

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
        self.isPattern = hasWildcard
    }

    // The words and `isPattern` follow from the name: equality and hashing need only these.
    public static func == (lhs: Destination, rhs: Destination) -> Bool {
        lhs.kind == rhs.kind && lhs.name == rhs.name
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(kind)
        hasher.combine(name)
    }

    public var description: String { "/\(kind.rawValue)/\(name)" }

    /// Whether the pattern `self` matches the concrete destination `other`.
    ///
    /// Linear in (pattern words × destination words) whatever the pattern: see
    /// `match(_:_:steps:)`.
    public func matches(_ other: Destination) -> Bool {
        guard kind == other.kind else { return false }
        guard isPattern else { return name == other.name }
        var steps = 0
        return Self.match(words, other.words, steps: &steps)
    }

    /// Matches pattern words against destination words by simulating the pattern as a
    /// nondeterministic automaton: the set of pattern positions reachable after each word is
    /// computed once, so no input makes it backtrack. `#` positions are their own epsilon
    /// closure. Costs at most 2 × (pattern words + 1) × (destination words + 1) steps; `steps`
    /// counts them (the fuzz target checks that bound).
    static func match(_ pattern: [Substring], _ words: [Substring], steps: inout Int) -> Bool {
        let count = pattern.count
        // Positions reachable before consuming a word: start, plus skipping leading #s.
        var current = [Bool](repeating: false, count: count + 1)
        var next = current
        func close(_ set: inout [Bool]) {
            // Epsilon closure: a # may match zero words, so reaching it reaches what follows.
            for position in 0..<count where set[position] && pattern[position] == "#" {
                steps += 1
                set[position + 1] = true
            }
        }
        current[0] = true
        close(&current)
        for word in words {
            for position in 0...count { next[position] = false }
            var any = false
            for position in 0..<count where current[position] {
                steps += 1
                switch pattern[position] {
                case "#":
                    next[position] = true  // # takes this word and may take more
                    any = true
                case "*":
                    next[position + 1] = true
                    any = true
                case let literal where literal == word:
                    next[position + 1] = true
                    any = true
                default:
                    break
                }
            }
            guard any else { return false }
            close(&next)
            swap(&current, &next)
        }
        return current[count]
    }
}
