import NIOCore

/// Who a session is, as the gateway authenticated it. The hub reads only `user`, which it
/// stamps on every message the session publishes (`perigee-user`), and `expiry`, when it ends
/// the session with ERROR `token expired`; `details` belongs to whoever authenticated it (the
/// gateway's identity model) and is opaque here.
///
/// Principals compare by identity: a per-message permission cache keyed by principal then
/// shares answers between the sessions of one shared principal (every anonymous session) and
/// never between two different ones.
public final class Principal: Sendable, Hashable, CustomStringConvertible {
    /// The authenticated id (the user); nil for anonymous sessions.
    public let user: String?
    /// When the session's credentials stop being valid (on the event loops' clock); nil: never.
    public let expiry: NIODeadline?
    /// The authenticator's own description of the principal (kind, claims, rules).
    public let details: (any Sendable)?
    /// How the principal was authenticated, as a metric label and in the admin API
    /// (`anonymous`, `jwt`, `hook`, `api_key`, ...): a small fixed set chosen by the
    /// authenticator, never client text.
    public let kind: String
    /// What other subscribers may see of this principal in presence (the presence API and
    /// join/leave bodies): JSON text (an object, at most a few KiB) the authenticator vouches
    /// for; nil for none. Ignored without a `user`.
    public let presence: String?

    /// - Parameter kind: defaults to `anonymous` without a user, `authenticated` with one.
    public init(user: String?, expiry: NIODeadline? = nil, details: (any Sendable)? = nil, kind: String? = nil, presence: String? = nil) {
        self.user = user
        self.expiry = expiry
        self.details = details
        self.kind = kind ?? (user == nil ? "anonymous" : "authenticated")
        self.presence = presence
    }

    /// The one anonymous principal of the default gatekeeper.
    public static let anonymous = Principal(user: nil)

    public static func == (lhs: Principal, rhs: Principal) -> Bool { lhs === rhs }

    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }

    public var description: String { user.map { "Principal(\($0))" } ?? "Principal(anonymous)" }
}
