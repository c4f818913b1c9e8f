import Fallback
import Hub
import Logging
import NIOHTTP1
import WebSocket

/// Maps request paths to what serves them. Immutable: a connection keeps the router it was
/// accepted with, and a reload (`reconfigured(_:)`) makes the router that later connections
/// take, sharing the hub, the gatekeeper and the SockJS sessions.
struct GatewayRouter: Sendable {
    /// STOMP over WebSocket subprotocols, best first (STOMP 1.2 "Connecting": the
    /// `vXY.stomp` names).
    static let stompSubprotocols = ["v12.stomp", "v11.stomp", "v10.stomp"]

    let configuration: GatewayConfiguration
    let hub: Hub
    let compressors: WebSocketCompressorPool
    /// Authentication and access for the HTTP API (sessions get theirs from the hub).
    let gatekeeper: GatewayGatekeeper
    /// Logs the requests that are refused (`notice`), without query strings or headers.
    let requests: RequestLogger
    /// What `GET /metrics` reports; nil when `metrics.enabled` is off.
    let metrics: GatewayMetrics?
    /// Answered by `GET /readyz`; the server moves it on.
    let readiness: Readiness
    /// SockJS services by prefix: `/stomp`, and the protocol suite's services in conformance
    /// mode.
    let sockJSServices: [SockJSService]
    /// Prefixes of the conformance services, which allow any origin: the SockJS protocol suite
    /// sends arbitrary origins to test CORS.
    private let anyOriginPrefixes: [String]

    init(
        configuration: GatewayConfiguration,
        hub: Hub,
        compressors: WebSocketCompressorPool,
        gatekeeper: GatewayGatekeeper,
        logger: Logger = Logger(label: "perigee"),
        metrics: GatewayMetrics? = nil
    ) {
        self.requests = RequestLogger(logger: logger)
        self.configuration = configuration
        self.metrics = metrics
        self.hub = hub
        self.compressors = compressors
        self.gatekeeper = gatekeeper
        self.readiness = Readiness()
        let settings = gatekeeper.settings
        let tls = configuration.tls != nil
        var services = [
            SockJSService(
                prefix: "/stomp",
                configuration: configuration.sockJS,
                onRefusal: { transport, reason in metrics?.handshakeFailed(transport, reason: reason) }
            ) { opening in
                // Called once per session opened, whatever its transport.
                metrics?.handshake(opening.transport)
                let label = StompConnectionLabel(transport: opening.transport, address: opening.remoteAddress.map(StompTCPHandler.describe))
                // The settings of the moment: a reload may turn JWT or the hooks on or off.
                let current = settings.current
                guard current.describesClients else { return StompSockJSApplication(hub: hub, client: nil, label: label) }
                let forwarded = current.forwardedHeaders
                let client = ClientContext(transport: opening.transport, tls: tls, address: opening.remoteAddress, request: opening.request, forwarding: forwarded)
                let openerToken = client.queryToken
                let transport = opening.transport
                return StompSockJSApplication(hub: hub, client: client, label: label) { sender in
                    var described = ClientContext(transport: transport, tls: tls, address: sender.remoteAddress, request: sender.request, forwarding: forwarded)
                    described.queryToken = described.queryToken ?? openerToken
                    return described
                }
            }
        ]
        if configuration.conformance {
            // The SockJS protocol suite's services, with its small streaming limit.
            var suite = configuration.sockJS
            suite.responseLimit = 4096
            var noWebSocket = suite
            noWebSocket.websocket = false
            var cookies = suite
            cookies.cookieNeeded = true
            services += [
                SockJSService(prefix: "/echo", configuration: suite) { _ in SockJSEchoApplication() },
                SockJSService(prefix: "/disabled_websocket_echo", configuration: noWebSocket) { _ in SockJSEchoApplication() },
                SockJSService(prefix: "/cookie_needed_echo", configuration: cookies) { _ in SockJSEchoApplication() },
                SockJSService(prefix: "/close", configuration: suite) { _ in SockJSCloseApplication() },
            ]
        }
        sockJSServices = services
        anyOriginPrefixes = services.dropFirst().map(\.prefix)
    }

    private init(copying other: GatewayRouter, configuration: GatewayConfiguration) {
        self.requests = other.requests
        self.metrics = other.metrics
        self.configuration = configuration
        self.hub = other.hub
        self.compressors = other.compressors
        self.gatekeeper = other.gatekeeper
        self.readiness = other.readiness
        self.sockJSServices = other.sockJSServices
        self.anyOriginPrefixes = other.anyOriginPrefixes
    }

    /// The router for connections accepted after a reload: `configuration`'s origins, HTTP
    /// timeouts, body limit and `/stomp` WebSocket limits, with this router's hub, gatekeeper,
    /// readiness and SockJS services (whose settings need a restart).
    func reconfigured(_ configuration: GatewayConfiguration) -> GatewayRouter {
        GatewayRouter(copying: self, configuration: configuration)
    }

    /// The origin rules for requests at `path`: `configuration.origins`, except on the
    /// conformance services, which allow any.
    func originPolicy(for path: String) -> OriginPolicy {
        anyOriginPrefixes.contains { path == $0 || path.hasPrefix($0 + "/") } ? .any : configuration.origins
    }

    /// The origin verdict on a request (see `OriginPolicy.decide`).
    func originDecision(for head: HTTPRequestHead) -> OriginPolicy.Decision {
        originPolicy(for: Self.path(of: head.uri)).decide(head)
    }

    /// The SockJS service whose prefix covers `path`.
    func sockJSService(owning path: String) -> SockJSService? {
        sockJSServices.first { $0.owns(path: path) }
    }

    /// The WebSocket endpoint mounted at the request's path, if any. Its handshake refuses an
    /// `Origin` that `originPolicy(for:)` does not allow for the request's `Host` (403).
    /// None while draining: the request then reaches `GatewayHTTPHandler`, which answers 503.
    func webSocketEndpoint(for head: HTTPRequestHead) -> WebSocketEndpoint? {
        guard !readiness.isDraining, var endpoint = mountedEndpoint(for: head) else { return nil }
        let policy = originPolicy(for: Self.path(of: head.uri))
        let host = head.headers.first(name: "host")
        endpoint.acceptOrigin = { origin in origin.map { policy.allows($0, host: host) } ?? true }
        return endpoint
    }

    private func mountedEndpoint(for head: HTTPRequestHead) -> WebSocketEndpoint? {
        let path = Self.path(of: head.uri)
        switch path {
        case "/stomp", "/stomp/websocket":
            return stompEndpoint()
        case "/echo/websocket" where configuration.conformance:
            return WebSocketEndpoint(configuration: configuration.echoWebSocket) { _, _ in EchoApplication() }
        default:
            break
        }
        guard let service = sockJSService(owning: path), service.configuration.websocket,
            let route = SockJSRoute(path: path, prefix: service.prefix)
        else { return nil }
        let framed: Bool
        switch route {
        case .rawWebSocket: framed = false
        case .session(_, _, .websocket): framed = true
        default: return nil
        }
        let sockJS = service.configuration
        let makeApplication = service.applicationFactory
        var endpoint = WebSocketEndpoint(configuration: configuration.stompWebSocket) { handshake, channel in
            let opening = SockJSOpening(
                transport: framed ? "sockjs-websocket" : "websocket",
                request: handshake.request,
                remoteAddress: channel.remoteAddress
            )
            return SockJSWebSocketApplication(configuration: sockJS, framed: framed, makeApplication: { makeApplication(opening) })
        }
        endpoint.acceptsHixie76 = true
        return endpoint
    }

    /// The transport a WebSocket handshake at `head`'s path asks for, as metrics name it:
    /// `sockjs-websocket` under a SockJS session, `websocket` otherwise.
    func handshakeTransport(for head: HTTPRequestHead) -> String {
        let path = Self.path(of: head.uri)
        guard path != "/stomp/websocket", let service = sockJSService(owning: path),
            case .session(_, _, .websocket)? = SockJSRoute(path: path, prefix: service.prefix)
        else { return "websocket" }
        return "sockjs-websocket"
    }

    private func stompEndpoint() -> WebSocketEndpoint {
        let hub = self.hub
        let compressors = self.compressors
        let settings = gatekeeper.settings
        let metrics = self.metrics
        let tls = configuration.tls != nil
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
            makeApplication: { handshake, channel in
                metrics?.handshake("websocket")
                let current = settings.current
                let client = current.describesClients
                    ? ClientContext(transport: "websocket", tls: tls, address: channel.remoteAddress, request: handshake.request, forwarding: current.forwardedHeaders)
                    : nil
                return StompWebSocketApplication(hub: hub, client: client, compressors: compressors, loop: channel.eventLoop)
            }
        )
    }

    /// The path of a request target, without query or fragment.
    static func path(of uri: String) -> String {
        let end = uri.firstIndex { $0 == "?" || $0 == "#" } ?? uri.endIndex
        return String(uri[..<end])
    }
}
