import WebSocket

/// The conformance echo service: every message goes back unchanged, as the same kind.
final class EchoApplication: WebSocketApplication {
    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        socket.send(message)
    }
}
