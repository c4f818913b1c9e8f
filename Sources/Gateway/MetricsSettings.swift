/// The `metrics` settings: whether `GET /metrics` answers, and to whom.
public struct MetricsSettings: Sendable, Hashable {
    /// Who may read `GET /metrics`.
    public enum Access: String, Sendable, Hashable, CaseIterable {
        /// Only clients connecting from 127.0.0.0/8 or ::1 (403 for others).
        case loopback
        /// Clients presenting `Authorization: Bearer <a configured API key>` (401 without
        /// one, 403 with an unknown one).
        case apiKey = "api_key"
        /// Anyone who can reach the port.
        case open
    }

    /// Off: `GET /metrics` is 404 like any unknown path.
    public var enabled = true
    public var access = Access.loopback

    public init() {}
}
