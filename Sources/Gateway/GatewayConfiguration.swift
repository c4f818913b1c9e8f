import Hub
import WebSocket

/// Everything the gateway needs to start: listeners, endpoints, limits and keys.
public struct GatewayConfiguration: Sendable {
    /// The address the HTTP/WebSocket listener binds to.
    public var host: String = "127.0.0.1"
    /// The HTTP/WebSocket port; 0 picks a free port (see `GatewayServer.httpPort`).
    public var port: Int = 9000
    /// The STOMP-over-TCP port; 0 is off, -1 picks a free port (tests).
    public var stompPort: Int = 61613
    /// Mount the conformance services (`/echo/websocket`) that external suites test against.
    public var conformance: Bool = false
    /// Static files served at `/`; nil serves none.
    public var webRoot: String? = "web"
    /// API keys accepted as `Authorization: Bearer KEY` (HTTP) or as the CONNECT passcode
    /// (STOMP), by name. With none configured only loopback clients may publish over HTTP.
    public var apiKeys: [String: String] = [:]
    /// Hub and STOMP session settings.
    public var hub = HubConfiguration()
    /// Limits of STOMP over WebSocket at `/stomp`. The server imposes
    /// `server_no_context_takeover` so that a broadcast is compressed once for all.
    public var stompWebSocket: WebSocketConfiguration = {
        var configuration = WebSocketConfiguration()
        configuration.deflate.serverNoContextTakeover = true
        return configuration
    }()
    /// Limits of the conformance echo endpoint: Autobahn|Testsuite sends messages of up to
    /// 16 MiB in frames of up to 16 MiB (its section 9).
    public var echoWebSocket: WebSocketConfiguration = {
        var configuration = WebSocketConfiguration()
        configuration.maxFrameSize = 16 << 20
        configuration.maxMessageSize = 16 << 20
        return configuration
    }()

    public init() {}
}
