/// What went through one connection, or one transport's connections on a shard.
public struct StompTraffic: Sendable, Hashable {
    /// SEND frames accepted from the client (and published).
    public var messagesIn: UInt64 = 0
    /// MESSAGE frames written to the client.
    public var messagesOut: UInt64 = 0
    /// Bytes received from the client, as the transport handed them over (STOMP bytes,
    /// without WebSocket or SockJS framing).
    public var bytesIn: UInt64 = 0
    /// Bytes of STOMP frames and heart-beats written to the client (before compression and
    /// transport framing).
    public var bytesOut: UInt64 = 0

    public init() {}

    static func + (lhs: Self, rhs: Self) -> Self {
        var sum = lhs
        sum.messagesIn &+= rhs.messagesIn
        sum.messagesOut &+= rhs.messagesOut
        sum.bytesIn &+= rhs.bytesIn
        sum.bytesOut &+= rhs.bytesOut
        return sum
    }
}
