import Hub
import NIOHTTP1
import WebSocket

/// Maps request paths to what serves them. Immutable and shared by every connection.
struct GatewayRouter: Sendable {
    /// STOMP over WebSocket subprotocols, best first (STOMP 1.2 "Connecting": the
    /// `vXY.stomp` names).
    static let stompSubprotocols = ["v12.stomp", "v11.stomp", "v10.stomp"]

    let configuration: GatewayConfiguration
    let hub: Hub
    let compressors: WebSocketCompressorPool

    /// The WebSocket endpoint mounted at the request's path, if any.
    func webSocketEndpoint(for head: HTTPRequestHead) -> WebSocketEndpoint? {
        switch Self.path(of: head.uri) {
        case "/stomp":
            let hub = self.hub
            let compressors = self.compressors
            return WebSocketEndpoint(
                configuration: configuration.stompWebSocket,
                selectSubprotocol: { offered, _ in
                    // The server's preference wins; a client offering none still speaks STOMP
                    // (so that a bare wscat session works by typing frames).
                    for candidate in Self.stompSubprotocols where offered.contains(candidate) {
                        return .accept(candidate)
                    }
                    return .none
                },
                makeApplication: { _, channel in
                    StompWebSocketApplication(hub: hub, principal: .anonymous, compressors: compressors, loop: channel.eventLoop)
                }
            )
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
