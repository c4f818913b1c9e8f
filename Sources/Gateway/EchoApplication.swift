import WebSocket

/// The conformance echo service: every message goes back unchanged, as the same kind.
final class EchoApplication: WebSocketApplication {
    func webSocket(_ socket: WebSocketHandler, didReceive message: WebSocketMessage) {
        socket.send(message)
    }
}
