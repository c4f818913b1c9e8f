import Hub

/// Who may SUBSCRIBE to and SEND to which destinations: one rule set for anonymous clients,
/// one for API-key holders and one for authenticated users (JWT and hook principals), each a
/// list of destination globs per action. `*` matches within one path segment, `**` across
/// segments. A principal may carry rules of its own (`Identity.ownRules`, a connect hook's
/// lists), which replace these, or narrowing rules (`Identity.narrowing`, a token's
/// `perigee` claim), which must allow too.
public struct AccessPolicy: Sendable, Hashable {
    public struct Rules: Sendable, Hashable {
        public var subscribe: [String] {
            get { subscribeGlobs.map(\.text) }
            set { subscribeGlobs = newValue.map(Glob.init) }
        }
        public var send: [String] {
            get { sendGlobs.map(\.text) }
            set { sendGlobs = newValue.map(Glob.init) }
        }
        private var subscribeGlobs: [Glob]
        private var sendGlobs: [Glob]

        /// - Precondition: every glob is valid (`AccessPolicy.isValidGlob`); an invalid one
        ///   matches nothing.
        public init(subscribe: [String], send: [String]) {
            self.subscribeGlobs = subscribe.map(Glob.init)
            self.sendGlobs = send.map(Glob.init)
        }

        func allows(_ action: AccessAction, _ path: String) -> Bool {
            (action == .subscribe ? subscribeGlobs : sendGlobs).contains { $0.matches(path) }
        }
    }

    public var anonymous: Rules
    public var apiKey: Rules
    public var authenticated: Rules

    public init(anonymous: Rules, apiKey: Rules, authenticated: Rules = Self.standard.authenticated) {
        self.anonymous = anonymous
        self.apiKey = apiKey
        self.authenticated = authenticated
    }

    /// Browsers may read every topic and shout in the demo; authenticated users may read and
    /// send to every topic; API-key holders may do anything.
    public static let standard = AccessPolicy(
        anonymous: Rules(subscribe: ["/topic/**"], send: ["/topic/shouts"]),
        apiKey: Rules(subscribe: ["/**"], send: ["/**"]),
        authenticated: Rules(subscribe: ["/topic/**"], send: ["/topic/**"])
    )

    /// No restrictions (tests and trusted deployments).
    public static let open = AccessPolicy(
        anonymous: Rules(subscribe: ["/**"], send: ["/**"]),
        apiKey: Rules(subscribe: ["/**"], send: ["/**"]),
        authenticated: Rules(subscribe: ["/**"], send: ["/**"])
    )

    public func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        let identity = Identity.of(principal)
        let path = destination.description
        guard (identity.ownRules ?? rules(for: principal)).allows(action, path) else { return false }
        return identity.narrowing?.allows(action, path) ?? true
    }

    /// The configured rules for a principal of its kind (anonymous when it has no id).
    func rules(for principal: Principal) -> Rules {
        switch Identity.of(principal).kind {
        case .anonymous: return anonymous
        case .apiKey: return apiKey
        case .jwt, .hook: return principal.user == nil ? anonymous : authenticated
        }
    }

    /// Whether a glob is well-formed: absolute, at most 1,024 bytes, and `**` only as a whole
    /// segment.
    public static func isValidGlob(_ glob: String) -> Bool {
        guard glob.hasPrefix("/"), glob.utf8.count <= 1_024 else { return false }
        return glob.split(separator: "/").allSatisfy { !$0.contains("**") || $0 == "**" }
    }

    /// A list of globs in a token claim or a hook answer: nil when malformed (not a list of at
    /// most `limit` valid globs), `.some(nil)` when absent or null.
    static func globs(in value: JSONValue?, limit: Int) -> [String]?? {
        guard let value, !value.isNull else { return .some(nil) }
        guard case .array(let items) = value, items.count <= limit else { return nil }
        var globs: [String] = []
        for item in items {
            guard let glob = item.stringValue, isValidGlob(glob) else { return nil }
            globs.append(glob)
        }
        return .some(globs)
    }

    static func glob(_ glob: String, matches path: String) -> Bool {
        Glob(glob).matches(path)
    }
}

/// A destination glob, matched in O(pattern × path) time and O(path) space whatever the
/// pattern (globs come from tokens and hooks too): `*` is any run of bytes other than `/`,
/// `**` any run of bytes at all. The usual shapes — no wildcard, or one trailing `**` — are
/// compared directly, without the dynamic programme (a SEND checks its destination against
/// the rules each time).
struct Glob: Sendable, Hashable {
    private enum Element: Hashable {
        case byte(UInt8)
        case segmentWildcard
        case anyWildcard
    }

    private enum Shape: Hashable {
        /// No wildcard: equal paths only.
        case literal
        /// `prefix**` with no other wildcard: any path starting with `prefix`.
        case prefix(String)
        case general([Element])
    }

    let text: String
    private let shape: Shape

    init(_ text: String) {
        self.text = text
        var elements: [Element] = []
        let bytes = Array(text.utf8)
        var index = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "*") {
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") {
                    elements.append(.anyWildcard)
                    index += 2
                } else {
                    elements.append(.segmentWildcard)
                    index += 1
                }
            } else {
                elements.append(.byte(bytes[index]))
                index += 1
            }
        }
        let wildcards = elements.filter { $0 == .segmentWildcard || $0 == .anyWildcard }
        if wildcards.isEmpty {
            shape = .literal
        } else if wildcards == [.anyWildcard], elements.last == .anyWildcard {
            shape = .prefix(String(text.dropLast(2)))
        } else {
            shape = .general(elements)
        }
    }

    func matches(_ path: String) -> Bool {
        switch shape {
        case .literal: return path == text
        case .prefix(let prefix): return path.hasPrefix(prefix)
        case .general(let elements): return Self.matches(elements, Array(path.utf8))
        }
    }

    /// Dynamic programming over the path: `reachable[j]` says whether the pattern read so
    /// far can match the first `j` bytes of the path.
    private static func matches(_ elements: [Element], _ text: [UInt8]) -> Bool {
        var reachable = [Bool](repeating: false, count: text.count + 1)
        var next = reachable
        reachable[0] = true
        for element in elements {
            switch element {
            case .byte(let expected):
                for j in 0...text.count { next[j] = false }
                for j in 0..<text.count where reachable[j] && text[j] == expected {
                    next[j + 1] = true
                }
                swap(&reachable, &next)
            case .segmentWildcard:
                // Extends any match over bytes that are not `/`.
                for j in 0..<text.count where reachable[j] && text[j] != UInt8(ascii: "/") {
                    reachable[j + 1] = true
                }
            case .anyWildcard:
                if let first = reachable.firstIndex(of: true) {
                    for j in first...text.count { reachable[j] = true }
                }
            }
            if !reachable.contains(true) { return false }
        }
        return reachable[text.count]
    }
}
