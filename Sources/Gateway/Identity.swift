import Hub
import NIOCore

/// What the gateway knows of a session's principal: how it was authenticated, the rules that
/// apply to it, and what the application may want to see again (`Principal.details`).
struct Identity: Sendable {
    enum Kind: String, Sendable {
        case anonymous
        case apiKey = "api_key"
        case jwt
        case hook
    }

    var kind: Kind
    /// Rules that replace the configured ones for this principal (a connect hook's lists).
    var ownRules: AccessPolicy.Rules?
    /// Rules that narrow the configured ones (a token's `perigee` claim): both must allow.
    var narrowing: AccessPolicy.Rules?
    /// The connect hook's `data`, handed back to the subscribe and send hooks.
    var data: JSONValue?
    /// The verified token's claims.
    var claims: JSONValue?
    /// The transport the session came over (`ClientContext.transport`), for the hooks.
    var transport: String?

    /// The identity of a principal; a principal without one (`Principal.anonymous`) is anonymous.
    static func of(_ principal: Principal) -> Identity {
        principal.details as? Identity ?? Identity(kind: .anonymous)
    }

    /// Longest user id accepted from a token or a hook, in UTF-8 bytes.
    static let maxUserLength = 256

    /// Whether `user` may be a principal id: 1...256 bytes without control characters (it
    /// travels in a STOMP header, which STOMP 1.0 cannot escape).
    static func isValidUser(_ user: String) -> Bool {
        !user.isEmpty && user.utf8.count <= maxUserLength && !user.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
    }

    /// A principal of this identity.
    func principal(user: String?, expiry: NIODeadline? = nil) -> Principal {
        Principal(user: user, expiry: expiry, details: self)
    }
}
