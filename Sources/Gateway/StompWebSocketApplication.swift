import Hub
import NIOCore
import WebSocket

/// STOMP over WebSocket: each WebSocket message carries STOMP bytes (usually one frame), and
/// each outgoing frame is one message — text when it is UTF-8, binary otherwise.
final class StompWebSocketApplication: WebSocketApplication, StompTransport {
    private let hub: Hub
    private let principal: Principal
    private var connection: StompConnection?
    private weak var socket: WebSocketHandler?

    init(hub: Hub, principal: Principal) {
        self.hub = hub
        self.principal = principal
    }

    func webSocketDidOpen(_ socket: WebSocketHandler) {
        self.socket = socket
        guard let loop = socket.channel?.eventLoop else { return }
        connection = StompConnection(hub: hub, eventLoop: loop, transport: self, principal: principal)
        if connection == nil { socket.close(code: .internalError, reason: "no hub shard for this event loop") }
    }

    func webSocket(_ socket: WebSocketHandler, didReceive message: WebSocketMessage) {
        connection?.receive(message.data)
    }

    func webSocketWritabilityChanged(_ socket: WebSocketHandler) {
        connection?.writabilityChanged()
    }

    func webSocketDidClose(_ socket: WebSocketHandler, code: WebSocketCloseCode?) {
        connection?.transportClosed()
        connection = nil
    }

    // MARK: StompTransport

    func write(_ bytes: ByteBuffer, isText: Bool) {
        socket?.send(WebSocketMessage(kind: isText ? .text : .binary, data: bytes))
    }

    func flush() {
        socket?.flush()
    }

    var isWritable: Bool { socket?.isWritable ?? false }

    func close() {
        socket?.flush()
        socket?.close(code: .normalClosure, reason: "")
    }
}

@available(*, unavailable)
extension StompWebSocketApplication: Sendable {}
