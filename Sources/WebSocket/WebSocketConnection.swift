import NIOCore

/// What an application sees of a WebSocket connection, whichever protocol revision carries
/// it: RFC 6455 (`WebSocketHandler`) or the legacy draft-76 framing (`Hixie76Handler`) that
/// some proxies still speak. Used on the connection's event loop.
public protocol WebSocketConnection: AnyObject {
    /// The handshake that opened the connection (request, subprotocol, deflate parameters).
    var handshake: WebSocketHandshakeResult { get }
    /// Whether messages can still be sent.
    var isOpen: Bool { get }
    /// Whether the channel takes more writes without queueing past its high-water mark.
    var isWritable: Bool { get }
    /// The channel, for its address and event loop.
    var channel: Channel? { get }
    /// Queues a message; call `flush()` afterwards when not inside a receive callback.
    func send(_ message: WebSocketMessage)
    /// Queues a prepared (possibly pre-compressed) message.
    func send(_ outbound: WebSocketOutboundMessage)
    /// Flushes queued messages.
    func flush()
    /// Starts the closing handshake.
    func close(code: WebSocketCloseCode, reason: String)
}

extension WebSocketHandler: WebSocketConnection {}

extension WebSocketConnection {
    /// When `event` is `ChannelShouldQuiesceEvent` (the server is draining), closes with 1001
    /// "going away" (RFC 6455 §7.4.1) unless a close is already under way, and returns true.
    func goAway(on event: Any) -> Bool {
        guard event is ChannelShouldQuiesceEvent else { return false }
        if isOpen {
            close(code: .goingAway, reason: "server shutting down")
            flush()
        }
        return true
    }
}
