import NIOCore

/// Limits and timers of a WebSocket endpoint.
public struct WebSocketConfiguration: Sendable {
    /// The largest frame payload accepted; larger frames are refused with 1009 as soon as their
    /// header arrives.
    public var maxFrameSize: Int = 1 << 20
    /// The largest message accepted, after reassembly and decompression (1009 past it).
    public var maxMessageSize: Int = 1 << 20
    /// How often the server pings an otherwise quiet connection; `nil` for never.
    public var pingInterval: TimeAmount? = .seconds(30)
    /// A connection that sends nothing (not even a pong) for this long is closed with 1001;
    /// `nil` for never.
    public var idleTimeout: TimeAmount? = .seconds(75)
    /// How long to wait for the peer's close frame after sending ours before dropping TCP.
    public var closeTimeout: TimeAmount = .seconds(3)
    /// permessage-deflate (RFC 7692) settings.
    public var deflate = PerMessageDeflateConfiguration()
    /// Where compressed messages are counted (metrics); nil counts nothing.
    public var deflateStatistics: DeflateStatistics?

    public init() {}
}
