import NIOCore
import WebSocket

/// The WebSocket transports of SockJS: `/<server>/<session>/websocket` carries SockJS frames
/// (`o`, `h`, `a[...]`, `c[...]`) and takes JSON arrays of strings; `/websocket` under the
/// prefix carries bare messages. Each WebSocket is its own session: it needs no registry,
/// since nothing else can reach it.
public final class SockJSWebSocketApplication: WebSocketApplication, SockJSReceiver {
    private let configuration: SockJSConfiguration
    private let makeApplication: () -> any SockJSApplication
    private let framed: Bool
    private var session: SockJSSession?
    private weak var socket: (any WebSocketConnection)?

    /// - Parameter framed: true for SockJS framing, false for the raw `/websocket`.
    public init(configuration: SockJSConfiguration, framed: Bool, makeApplication: @escaping () -> any SockJSApplication) {
        self.configuration = configuration
        self.framed = framed
        self.makeApplication = makeApplication
    }

    public func webSocketDidOpen(_ socket: any WebSocketConnection) {
        self.socket = socket
        guard let loop = socket.channel?.eventLoop else { return }
        let session = SockJSSession(
            id: "websocket",
            eventLoop: loop,
            configuration: configuration,
            application: makeApplication(),
            onFinished: { _ in }
        )
        self.session = session
        session.attach(self)
    }

    public func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        guard let session else { return }
        let text = String(decoding: message.data.readableBytesView, as: UTF8.self)
        guard framed else {
            session.receive([text])
            return
        }
        // An empty message carries nothing (SockJS clients never send one).
        guard !text.isEmpty else { return }
        guard let messages = SockJSJSON.decodeMessages(Array(message.data.readableBytesView)) else {
            session.abort()
            socket.close(code: .unsupportedData, reason: "Broken JSON encoding.")
            return
        }
        session.receive(messages)
    }

    public func webSocketWritabilityChanged(_ socket: any WebSocketConnection) {
        if socket.isWritable { session?.receiverBecameWritable() }
    }

    public func webSocketDidClose(_ socket: any WebSocketConnection, code: WebSocketCloseCode?) {
        session?.abort()
        session = nil
    }

    // MARK: SockJSReceiver

    public func deliver(_ frame: SockJSFrame) -> Bool {
        guard let socket, socket.isOpen else { return false }
        if framed {
            socket.send(.text(frame.encoded))
            socket.flush()
            if case .close(let code, let reason) = frame {
                socket.close(code: WebSocketCloseCode(rawValue: UInt16(clamping: code)), reason: reason)
                return false
            }
            return true
        }
        switch frame {
        case .open, .heartbeat:
            return true
        case .messages(let messages):
            for message in messages { socket.send(.text(message.text)) }
            socket.flush()
            return true
        case .close(let code, let reason):
            socket.close(code: WebSocketCloseCode(rawValue: UInt16(clamping: code)), reason: reason)
            return false
        }
    }

    public var isWritable: Bool { socket?.isWritable ?? false }

    public func end() {
        socket?.close(code: .normalClosure, reason: "")
    }
}

@available(*, unavailable)
extension SockJSWebSocketApplication: Sendable {}
