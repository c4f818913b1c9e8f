import Fallback
import Hub
import NIOCore

/// STOMP over a SockJS session: each SockJS message carries STOMP text, and each STOMP frame
/// goes out as one SockJS message. The session's byte-bounded queue is what keeps a client
/// that stops polling from growing the server's memory.
final class StompSockJSApplication: SockJSApplication, StompTransport {
    private let hub: Hub
    private var client: ClientContext?
    /// Describes a client by one of its xhr_send requests (nil when the gatekeeper reads none).
    private let describeSender: ((SockJSOpening) -> ClientContext)?
    private var connection: StompConnection?
    private let label: StompConnectionLabel
    private weak var session: SockJSSession?

    /// - Parameter client: the opening request's details for the gatekeeper (nil when it
    ///   reads none).
    init(hub: Hub, client: ClientContext?, label: StompConnectionLabel = .unknown, describeSender: ((SockJSOpening) -> ClientContext)? = nil) {
        self.hub = hub
        self.label = label
        self.client = client
        self.describeSender = describeSender
    }

    func sockJSSessionDidOpen(_ session: SockJSSession) {
        self.session = session
        connection = StompConnection(hub: hub, eventLoop: session.eventLoop, transport: self, client: client, label: label)
        client = nil
    }

    func sockJSSession(_ session: SockJSSession, didReceive message: String) {
        if let sender = session.sendingRequest, let describe = describeSender {
            // Cookies, Origin and the User-Agent come from the request that carries this
            // message (see `SockJSSession.sendingRequest`); a token from its URL, else from
            // the opening request's.
            connection?.updateClient(describe(sender))
        }
        connection?.receive(message)
    }

    func sockJSSessionDidClose(_ session: SockJSSession) {
        connection?.transportClosed()
        connection = nil
    }

    // MARK: StompTransport

    func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) {
        guard let session else { return }
        // SockJS carries strings: STOMP frames are UTF-8 text (binary bodies do not survive).
        guard let shared else {
            session.send(String(decoding: bytes.readableBytesView, as: UTF8.self))
            return
        }
        // A fan-out frame: decoded and quoted once for every session that receives it.
        if let cached = shared.transportCache as? QuotedMessage {
            session.send(cached.message)
            return
        }
        let quoted = QuotedMessage(SockJSMessage(String(decoding: bytes.readableBytesView, as: UTF8.self)))
        shared.transportCache = quoted
        session.send(quoted.message)
    }

    func flush() {}

    var isWritable: Bool { session?.isWritable ?? false }

    var carriesTextOnly: Bool { true }

    func close(afterError: Bool) {
        session?.close()
    }

    /// ERROR `server shutting down` as a message, then the SockJS close frame
    /// `c[3000,"Go away!"]` (SockJS 0.3: the server closing the session).
    func goAway(farewell: ByteBuffer) {
        guard let session else { return }
        session.send(String(decoding: farewell.readableBytesView, as: UTF8.self))
        session.close(code: 3000, reason: "Go away!")
    }

    func abort(farewell: ByteBuffer) {
        session?.abort(farewell: String(decoding: farewell.readableBytesView, as: UTF8.self), reason: "slow consumer")
    }
}

@available(*, unavailable)
extension StompSockJSApplication: Sendable {}

/// Holds a quoted SockJS message in a `SharedFrame`.
private final class QuotedMessage {
    let message: SockJSMessage

    init(_ message: SockJSMessage) { self.message = message }
}
