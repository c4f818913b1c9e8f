import WebSocket

/// Everything the gateway needs to start: listeners and the endpoints they serve.
public struct GatewayConfiguration: Sendable {
    /// The address the HTTP/WebSocket listener binds to.
    public var host: String = "127.0.0.1"
    /// The HTTP/WebSocket port; 0 picks a free port (see `GatewayServer.httpPort`).
    public var port: Int = 9000
    /// Mount the conformance services (`/echo/websocket`) that external suites test against.
    public var conformance: Bool = false
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
