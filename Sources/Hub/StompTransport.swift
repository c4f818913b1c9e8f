import NIOCore

/// Where a STOMP session's output goes: a WebSocket, a TCP socket, a SockJS session. The hub
/// hands it whole encoded frames (or a heart-beat EOL) and never sees the framing.
public protocol StompTransport: AnyObject {
    /// Queues one encoded frame. `isText` says whether the bytes are valid UTF-8, for
    /// transports that distinguish text from binary (WebSocket). `shared` is set when the same
    /// bytes go to many sessions in one fan-out: a transport may keep a derived form there
    /// (a compressed WebSocket payload) so that the work is done once for all of them.
    func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?)
    /// Sends what was queued.
    func flush()
    /// Whether the transport takes more without buffering past its high-water mark.
    var isWritable: Bool { get }
    /// Whether it carries only text (SockJS): bodies that are not UTF-8 are then sent as their
    /// UTF-8 decoding, with a `content-length` that counts the bytes actually sent.
    var carriesTextOnly: Bool { get }
    /// Closes once what was queued has been sent. After an error (`afterError`), input that
    /// is still arriving is read and discarded for a bounded time first (a lingering close),
    /// so that the client is not reset before it reads the ERROR.
    func close(afterError: Bool)
    /// Closes now, discarding whatever output is queued (a slow consumer), after a
    /// best-effort attempt to send `farewell` (an ERROR frame).
    func abort(farewell: ByteBuffer)
    /// The server is shutting down: sends `farewell` (an ERROR `server shutting down`) after
    /// what was queued, then closes the way the transport says "go away" (WebSocket close
    /// 1001, RFC 6455 §7.4.1; SockJS `c[3000,"Go away!"]`). The default writes the farewell
    /// and closes as after an error.
    func goAway(farewell: ByteBuffer)
}

/// One encoded frame shared by every session of a fan-out group, with room for what
/// transports derive from it. Created and used on one event loop during one delivery.
public final class SharedFrame {
    /// Set by the first transport that derives something from the frame, read by the rest.
    public var transportCache: AnyObject?

    init() {}
}

@available(*, unavailable)
extension SharedFrame: Sendable {}

extension StompTransport {
    public func goAway(farewell: ByteBuffer) {
        write(farewell, isText: true, shared: nil)
        flush()
        close(afterError: true)
    }

    /// Queues a frame that is not shared.
    func write(_ bytes: ByteBuffer, isText: Bool) {
        write(bytes, isText: isText, shared: nil)
    }
}
