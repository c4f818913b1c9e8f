import NIOHTTP1
import WebSocket

/// Maps request paths to what serves them. Immutable and shared by every connection.
struct GatewayRouter: Sendable {
    let configuration: GatewayConfiguration

    /// The WebSocket endpoint mounted at the request's path, if any.
    func webSocketEndpoint(for head: HTTPRequestHead) -> WebSocketEndpoint? {
        switch Self.path(of: head.uri) {
        case "/echo/websocket" where configuration.conformance:
            return WebSocketEndpoint(configuration: configuration.echoWebSocket) { _, _ in EchoApplication() }
        default:
            return nil
        }
    }

    /// The path of a request target, without query or fragment.
    static func path(of uri: String) -> String {
        let end = uri.firstIndex { $0 == "?" || $0 == "#" } ?? uri.endIndex
        return String(uri[..<end])
    }
}
