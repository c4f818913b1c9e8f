import NIOCore

/// Where a STOMP session's output goes: a WebSocket, a TCP socket, a SockJS session. The hub
/// hands it whole encoded frames (or a heart-beat EOL) and never sees the framing.
public protocol StompTransport: AnyObject {
    /// Queues one encoded frame. `isText` says whether the bytes are valid UTF-8, for
    /// transports that distinguish text from binary (WebSocket).
    func write(_ bytes: ByteBuffer, isText: Bool)
    /// Sends what was queued.
    func flush()
    /// Whether the transport takes more without buffering past its high-water mark.
    var isWritable: Bool { get }
    /// Closes once what was queued has been sent.
    func close()
}
