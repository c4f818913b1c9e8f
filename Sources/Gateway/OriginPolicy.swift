import NIOHTTP1

/// Which browser origins may open WebSockets and SockJS sessions and read CORS answers
/// (cross-site WebSocket hijacking; RFC 6455 §10.2, RFC 6454 for origins).
///
/// An origin is allowed when it is the gateway's own (its host and port equal the request's
/// `Host`), when it is listed, or when `"*"` is listed. A request without `Origin` is not from
/// a browser page and is not judged. `Origin: null` (sandboxed frames, `file:` pages) is allowed
/// only when `"null"` is listed.
public struct OriginPolicy: Sendable, Equatable {
    /// Listed origins, normalised by `Origin.init(parsing:)`.
    public private(set) var allowed: Set<Origin> = []
    /// `"*"` was listed: any origin is allowed.
    public private(set) var allowsAny = false
    /// `"null"` was listed.
    public private(set) var allowsNull = false

    /// Only the gateway's own origin.
    public static let sameOrigin = OriginPolicy()
    /// Any origin (the conformance services, whose suites send arbitrary origins).
    public static let any = OriginPolicy(allowsAny: true)

    private init(allowsAny: Bool = false) {
        self.allowsAny = allowsAny
    }

    /// A policy from `origins.allowed` entries: `"*"`, `"null"` or `scheme://host[:port]`.
    /// - Throws: `InvalidEntry` naming the first entry that is none of these.
    public init(allowing entries: [String]) throws(InvalidEntry) {
        for entry in entries {
            switch entry {
            case "*": allowsAny = true
            case "null": allowsNull = true
            default:
                guard let origin = Origin(parsing: entry) else { throw InvalidEntry(entry: entry) }
                allowed.insert(origin)
            }
        }
    }

    /// An `origins.allowed` entry that is not an origin.
    public struct InvalidEntry: Error, Sendable {
        public var entry: String
    }

    /// The verdict on one request.
    public enum Decision: Sendable, Equatable {
        /// No `Origin` header: not a browser's cross-origin request; no CORS headers.
        case absent
        /// Allowed: CORS answers name this origin (the header's value, as sent).
        case allowed(String)
        /// Refused with 403 `origin <origin> is not allowed`.
        case refused(String)

        /// The origin CORS answers name: the allowed one, else nil.
        public var corsOrigin: String? {
            if case .allowed(let origin) = self { return origin }
            return nil
        }
    }

    /// Judges the request's `Origin` header against the policy and the request's `Host`.
    public func decide(_ head: HTTPRequestHead) -> Decision {
        guard let value = head.headers.first(name: "origin") else { return .absent }
        return allows(value, host: head.headers.first(name: "host")) ? .allowed(value) : .refused(value)
    }

    /// Whether the `Origin` value `value` may connect to a gateway addressed as `host` (the
    /// request's `Host` header, nil when absent).
    public func allows(_ value: String, host: String?) -> Bool {
        if allowsAny { return true }
        if value == "null" { return allowsNull }
        guard let origin = Origin(parsing: value) else { return false }
        if allowed.contains(origin) { return true }
        guard let host, let own = Origin.HostAndPort(parsing: host) else { return false }
        // The Host header has no scheme: a missing port there is the default of the origin's.
        return own.host == origin.host && (own.port ?? origin.defaultPort) == origin.effectivePort
    }
}
