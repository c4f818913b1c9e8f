/// One STOMP session as the admin API lists it (`Hub.sessions`).
public struct StompSessionSnapshot: Sendable, Hashable {
    /// The session's id (`session-<base 36>`), unique in the process: the CONNECTED frame's
    /// `session` header.
    public var id: String
    /// The principal's user; nil for anonymous sessions.
    public var user: String?
    /// How the principal was authenticated (`Principal.kind`).
    public var kind: String
    /// Whether CONNECT has been answered with CONNECTED.
    public var connected: Bool
    public var label: StompConnectionLabel
    /// The destinations the session subscribes to, sorted (one entry per subscription).
    public var subscriptions: [String]
    /// Seconds since the connection opened.
    public var ageSeconds: Double
    public var traffic: StompTraffic
}
