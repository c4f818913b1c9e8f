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
    /// The client's IP address, for the per-address bound on pending hook calls.
    var address: String?
    /// Whether the principal holds the `admin` role (an API key with `roles: [admin]`): the
    /// admin API, and SUBSCRIBE to the `$sys` topics (`SystemTopics`).
    var admin = false

    /// The identity of a principal; a principal without one (`Principal.anonymous`) is anonymous.
    static func of(_ principal: Principal) -> Identity {
        principal.details as? Identity ?? Identity(kind: .anonymous)
    }

    /// Longest user id accepted from a token or a hook, in UTF-8 bytes.
    static let maxUserLength = 256

    /// Whether `user` may be a principal id: 1...256 bytes without control characters (it
    /// travels in a STOMP header, which STOMP 1.0 cannot escape), line or paragraph
    /// separators, or the invisible bidirectional and zero-width marks that would let one id
    /// display as another.
    static func isValidUser(_ user: String) -> Bool {
        !user.isEmpty && user.utf8.count <= maxUserLength && !user.unicodeScalars.contains(where: isForbiddenInUser)
    }

    private static func isForbiddenInUser(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0..<0x20, 0x7F...0x9F: return true  // C0, DEL, C1
        case 0x200B...0x200F, 0x2028...0x202E, 0x2060...0x2069, 0xFEFF: return true  // zero-width, separators, bidi
        default: return false
        }
    }

    /// A principal of this identity; `presence` (`PresenceData`) only with a user.
    func principal(user: String?, expiry: NIODeadline? = nil, presence: String? = nil) -> Principal {
        Principal(user: user, expiry: expiry, details: self, kind: kind.rawValue, presence: user == nil ? nil : presence)
    }
}
