import Hub

/// The server's own destinations: names that begin with `$` (as MQTT's `$SYS`), today
/// `/topic/$sys.stats`. Whatever the configured access rules say, only admin principals (an
/// API key with `roles: [admin]`, `Identity.admin`) may SUBSCRIBE to them, and nobody may SEND
/// to them, over STOMP or the HTTP publish API: `GatewayGatekeeper.allows` asks
/// `isReserved` before the rules. A pattern subscription such as `/topic/#` passes SUBSCRIBE
/// but is asked again per message (`StompGatekeeper.allows`), so it never carries a `$`
/// destination to a non-admin.
enum SystemTopics {
    /// The hub's statistics as JSON, published by `SystemStatsPublisher`.
    static let stats: Destination = {
        guard let destination = Destination("/topic/$sys.stats") else { preconditionFailure("/topic/$sys.stats must parse") }
        return destination
    }()

    /// Whether `destination` (or pattern) belongs to the server: its name begins with `$`.
    static func isReserved(_ destination: Destination) -> Bool {
        destination.name.hasPrefix("$")
    }
}
