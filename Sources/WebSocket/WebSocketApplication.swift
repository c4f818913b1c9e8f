/// What runs on top of a WebSocket connection (an echo service, a STOMP session).
///
/// All calls happen on the connection's event loop; implementations are loop-bound and need
/// not be `Sendable`.
public protocol WebSocketApplication: AnyObject {
    /// The connection is open and `socket` can send.
    func webSocketDidOpen(_ socket: any WebSocketConnection)
    /// A complete, validated, decompressed message arrived.
    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage)
    /// The channel's writability changed; a producer should pause while `socket.isWritable` is
    /// false.
    func webSocketWritabilityChanged(_ socket: any WebSocketConnection)
    /// The connection is gone. `code` is the peer's close code, or nil when the peer sent none
    /// (TCP dropped, or we closed first).
    func webSocketDidClose(_ socket: any WebSocketConnection, code: WebSocketCloseCode?)
    /// The peer broke RFC 6455 or a limit (`error`): the server is closing with
    /// `error.closeCode`; `webSocketDidClose` follows. For logs and metrics.
    func webSocket(_ socket: any WebSocketConnection, didFail error: WebSocketError)
}

extension WebSocketApplication {
    public func webSocketDidOpen(_ socket: any WebSocketConnection) {}
    public func webSocketWritabilityChanged(_ socket: any WebSocketConnection) {}
    public func webSocketDidClose(_ socket: any WebSocketConnection, code: WebSocketCloseCode?) {}
    public func webSocket(_ socket: any WebSocketConnection, didFail error: WebSocketError) {}
}
