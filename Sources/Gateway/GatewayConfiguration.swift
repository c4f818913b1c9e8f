import Fallback
import Hub
import Logging
import NIOCore
import WebSocket

/// Everything the gateway needs to start: listeners, endpoints, limits and keys.
public struct GatewayConfiguration: Sendable {
    /// The address the HTTP/WebSocket listener binds to.
    public var host: String = "127.0.0.1"
    /// The HTTP/WebSocket port; 0 picks a free port (see `GatewayServer.httpPort`).
    public var port: Int = 9000
    /// The STOMP-over-TCP port; 0 is off, -1 picks a free port (tests).
    public var stompPort: Int = 61613
    /// The STOMP-over-TLS port, used only when `tls` is set; 0 is off, -1 picks a free port
    /// (tests).
    public var stompTLSPort: Int = 61614
    /// Certificate and key: when set, the HTTP port speaks HTTPS and WSS, and STOMP over TLS
    /// listens on `stompTLSPort`. Re-read by `GatewayServer.reload(_:)` (SIGHUP).
    public var tls: TLSCertificateFiles?
    /// Browser origins allowed besides the gateway's own (`origins.allowed`).
    public var origins: OriginPolicy = .sameOrigin
    /// Mount the conformance services (`/echo/websocket`) that external suites test against.
    public var conformance: Bool = false
    /// Static files served at `/`; nil serves none.
    public var webRoot: String? = "web"
    /// API keys accepted as `Authorization: Bearer KEY` (HTTP) or as the CONNECT passcode
    /// (STOMP), by name. With none configured only loopback clients may publish over HTTP.
    public var apiKeys: [String: String] = [:]
    /// Roles of API keys, by key name (`api_keys.NAME.roles`); a key absent here has none.
    /// The one role today is `admin`: the admin API (`AdminAPI`) and the `$sys` topics.
    public var apiKeyRoles: [String: Set<String>] = [:]
    /// How often `/topic/$sys.stats` is published while someone subscribes to it.
    public var statsInterval: TimeAmount = .seconds(1)
    /// Hub and STOMP session settings. Its `gatekeeper` is replaced by the gateway's
    /// (`GatewayGatekeeper`: API keys, JWT, hooks, `accessPolicy`) when the server starts,
    /// unless `accessPolicy` is nil.
    public var hub = HubConfiguration()
    /// History and presence per topic (`channels:`). Setting it sets `hub.channelPolicy`;
    /// a reload applies it at once (`Hub.reconfigure`).
    var channels = ChannelRules.none {
        didSet { hub.channelPolicy = channels.policyFunction }
    }
    /// Who may subscribe and send where; nil leaves `hub.gatekeeper` as it is (tests).
    public var accessPolicy: AccessPolicy? = .standard
    /// JSON Web Token verification (`auth.jwt`); off unless a secret or a public key is set.
    var jwt = TokenVerifier.Settings()
    /// The application's authorization hooks (`hooks`); off unless a URL is set.
    var hooks = HookClient.Settings()
    /// Limits of STOMP over WebSocket at `/stomp`. The server imposes
    /// `server_no_context_takeover` so that a broadcast is compressed once for all.
    public var stompWebSocket: WebSocketConfiguration = {
        var configuration = WebSocketConfiguration()
        configuration.deflate.serverNoContextTakeover = true
        return configuration
    }()
    /// Seconds a new HTTP connection has to send a complete request head (slowloris); past it,
    /// 408 and close.
    public var httpHeadTimeout: TimeAmount = .seconds(10)
    /// Seconds a request body has to arrive completely after its head.
    public var httpBodyTimeout: TimeAmount = .seconds(30)
    /// An HTTP keep-alive connection idle this long after its last response is closed.
    public var httpKeepAliveTimeout: TimeAmount = .seconds(30)
    /// After an error answer (STOMP ERROR, HTTP 400/431), input is drained for at most this
    /// long before the connection is dropped, so that the client reads the answer.
    public var lingerTimeout: TimeAmount = .seconds(2)
    /// SockJS at `/stomp` (the fallback transports for browsers without WebSocket).
    public var sockJS = SockJSConfiguration()
    /// How often memory that the allocator holds freed is returned to the system
    /// (`MemoryTrimmer`); nil is never.
    public var memoryTrimInterval: TimeAmount? = .seconds(5)
    /// How long a drain (SIGTERM, SIGINT; `GatewayServer.drain`) waits for clients to leave
    /// after telling them to go away before it closes what is left (`drain.timeout_s`,
    /// seconds; 0 closes at once).
    public var drainTimeout: TimeAmount = .seconds(10)
    /// `drainTimeout` in whole seconds (the `--drain-timeout` flag).
    public var drainTimeoutSeconds: Int {
        get { Int(drainTimeout.nanoseconds / 1_000_000_000) }
        set { drainTimeout = .seconds(Int64(max(newValue, 0))) }
    }
    /// `GET /metrics` (Prometheus text format): on or off, and who may read it.
    public var metrics = MetricsSettings()
    /// Limits of the conformance echo endpoint: Autobahn|Testsuite sends messages of up to
    /// 16 MiB in frames of up to 16 MiB (its section 9).
    /// The least severe log level written (`log.level`, `PERIGEE_LOG_LEVEL`, `--log-level`).
    public var logLevel: Logger.Level = .info
    /// How log lines are written to standard error (`log.format`, `PERIGEE_LOG_FORMAT`,
    /// `--log-format`).
    public var logFormat: LogFormat = .text
    public var echoWebSocket: WebSocketConfiguration = {
        var configuration = WebSocketConfiguration()
        configuration.maxFrameSize = 16 << 20
        configuration.maxMessageSize = 16 << 20
        return configuration
    }()

    public init() {}
}
