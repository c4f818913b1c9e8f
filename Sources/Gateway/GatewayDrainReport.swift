/// What a drain did (`GatewayServer.drain`), as its last log line says.
public struct GatewayDrainReport: Sendable, Equatable {
    /// Sessions told to go away: STOMP sessions on every transport, plus SockJS sessions
    /// without STOMP.
    public var told: Int
    /// Connections still open at the deadline, closed by force.
    public var forced: Int
    /// Milliseconds from the start of the drain until the last connection closed (or the
    /// deadline).
    public var elapsedMilliseconds: Int64
}
