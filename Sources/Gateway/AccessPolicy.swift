import Hub

/// Who may SUBSCRIBE to and SEND to which destinations, in the spirit of the old `[access]`
/// section: one rule set for anonymous clients and one for API-key holders, each a list of
/// destination globs per action. `*` matches within one path segment, `**` across segments.
public struct AccessPolicy: Sendable, Hashable {
    public struct Rules: Sendable, Hashable {
        public var subscribe: [String]
        public var send: [String]

        public init(subscribe: [String], send: [String]) {
            self.subscribe = subscribe
            self.send = send
        }
    }

    public var anonymous: Rules
    public var apiKey: Rules

    public init(anonymous: Rules, apiKey: Rules) {
        self.anonymous = anonymous
        self.apiKey = apiKey
    }

    /// Browsers may read every topic and shout in the demo; API-key holders may do anything.
    public static let standard = AccessPolicy(
        anonymous: Rules(subscribe: ["/topic/**"], send: ["/topic/shouts"]),
        apiKey: Rules(subscribe: ["/**"], send: ["/**"])
    )

    /// No restrictions (tests and trusted deployments).
    public static let open = AccessPolicy(
        anonymous: Rules(subscribe: ["/**"], send: ["/**"]),
        apiKey: Rules(subscribe: ["/**"], send: ["/**"])
    )

    public func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        let rules: Rules
        switch principal {
        case .anonymous: rules = anonymous
        case .apiKey: rules = apiKey
        }
        let globs = action == .subscribe ? rules.subscribe : rules.send
        let path = destination.description
        return globs.contains { Self.glob($0, matches: path) }
    }

    /// Whether a glob is well-formed: absolute, and `**` only as a whole segment.
    public static func isValidGlob(_ glob: String) -> Bool {
        guard glob.hasPrefix("/") else { return false }
        return glob.split(separator: "/").allSatisfy { !$0.contains("**") || $0 == "**" }
    }

    static func glob(_ glob: String, matches path: String) -> Bool {
        match(Array(glob.utf8)[...], Array(path.utf8)[...])
    }

    private static func match(_ pattern: ArraySlice<UInt8>, _ text: ArraySlice<UInt8>) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == UInt8(ascii: "*") {
            let isDouble = pattern.dropFirst().first == UInt8(ascii: "*")
            let rest = pattern.dropFirst(isDouble ? 2 : 1)
            var candidate = text
            while true {
                if match(rest, candidate) { return true }
                guard let next = candidate.first, isDouble || next != UInt8(ascii: "/") else { return false }
                candidate = candidate.dropFirst()
            }
        }
        guard let next = text.first, next == first else { return false }
        return match(pattern.dropFirst(), text.dropFirst())
    }
}
