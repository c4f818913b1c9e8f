import NIOCore

/// A connection's way of sending one application payload (a STOMP frame or frames): raw bytes on
/// TCP, a masked WebSocket message, or a SockJS `xhr_send`.
protocol ClientTransport: AnyObject {
    func send(_ payload: ByteBuffer)
}

/// What runs over a transport: a STOMP or nchan subscriber, or a STOMP publisher.
///
/// Transports call these on their event loop; the logic does no I/O but through `ClientTransport`.
protocol ClientLogic: AnyObject {
    /// The transport is ready for application payloads (TCP connected, WebSocket 101, SockJS `o`,
    /// EventSource 200).
    func transportOpened(_ transport: ClientTransport)
    /// One application payload: a TCP read, a WebSocket message, a SockJS string, an SSE data
    /// line or a long-poll body.
    func transportReceived(_ payload: ByteBuffer, now: UInt64)
    /// Setup or the connection failed.
    func transportFailed(_ reason: String)
    /// The connection closed.
    func transportClosed()
}
