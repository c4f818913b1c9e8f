import Hub

/// The `channels:` section: what the hub keeps per topic (history, presence), chosen by
/// destination glob (`AccessPolicy` globs: `*` within a segment, `**` across). The first rule
/// in file order whose glob matches a topic decides its `ChannelPolicy`; a topic no rule
/// matches, and every queue, gets `ChannelPolicy.none`.
///
/// Asked by the hub once per topic, when the topic's state is created at its owner shard and
/// again on a reload (`HubConfiguration.channelPolicy`), never per message. A literal glob is
/// found by one dictionary lookup; only the wildcard rules that come before it in file order
/// are tried, each in O(glob × destination) time (`Glob`).
struct ChannelRules: Sendable, Hashable {
    /// One `channels:` entry.
    struct Rule: Sendable, Hashable {
        var glob: String
        var policy: ChannelPolicy
    }

    /// The rules, in file order.
    let rules: [Rule]
    /// The index of the first rule of each literal glob (no wildcard).
    private let literals: [String: Int]
    /// The rules whose glob has a wildcard, in file order, with their index.
    private let wildcards: [(index: Int, glob: Glob)]

    /// Largest `history_ttl_s`: 30 days.
    static let maxHistoryTTLSeconds = 30 * 86_400
    /// Most entries a `channels:` section may hold.
    static let maxRules = 1_000

    /// - Precondition: every glob is valid (`AccessPolicy.isValidGlob`).
    init(_ rules: [Rule] = []) {
        self.rules = rules
        var literals: [String: Int] = [:]
        var wildcards: [(index: Int, glob: Glob)] = []
        for (index, rule) in rules.enumerated() {
            if rule.glob.contains("*") {
                wildcards.append((index, Glob(rule.glob)))
            } else if literals[rule.glob] == nil {
                literals[rule.glob] = index
            }
        }
        self.literals = literals
        self.wildcards = wildcards
    }

    /// No rule: live delivery only, for every topic.
    static let none = ChannelRules()

    /// The policy of the first rule matching `destination`; `.none` for queues, patterns and
    /// topics no rule matches.
    func policy(for destination: Destination) -> ChannelPolicy {
        guard destination.kind == .topic, !destination.isPattern, !rules.isEmpty else { return .none }
        let path = destination.description
        let literal = literals[path]
        for (index, glob) in wildcards {
            if let literal, literal < index { break }
            if glob.matches(path) { return rules[index].policy }
        }
        return literal.map { rules[$0].policy } ?? .none
    }

    /// `policy(for:)` as the hub asks it (`HubConfiguration.channelPolicy`).
    var policyFunction: @Sendable (Destination) -> ChannelPolicy {
        let rules = self
        return { rules.policy(for: $0) }
    }

    /// Whether a valid glob can match some `/topic/` destination: its first segment is `**`,
    /// or matches `topic` and a segment follows it.
    static func canMatchTopic(_ glob: String) -> Bool {
        let segments = glob.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2 else { return false }
        if segments[1] == "**" { return true }
        return segments.count >= 3 && Glob("/" + segments[1]).matches("/topic")
    }

    static func == (lhs: ChannelRules, rhs: ChannelRules) -> Bool { lhs.rules == rhs.rules }

    func hash(into hasher: inout Hasher) { hasher.combine(rules) }
}
