import Fallback
import Hub
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import WebSocket

/// The running gateway: one listener serving HTTP and WebSocket on an event loop per core.
///
/// `reload(_:)` applies a configuration read again (SIGHUP) without dropping a connection.
public final class GatewayServer: Sendable {
    private let group: MultiThreadedEventLoopGroup
    private let ownsGroup: Bool
    private let channel: Channel
    private let stompChannel: Channel?
    private let stompTLSChannel: Channel?
    /// The certificate that new TLS connections take; nil without TLS.
    private let tls: TLSContextHolder?
    private let logger: Logger
    private let trimmer: MemoryTrimmer?
    /// Publishes `/topic/$sys.stats` while someone subscribes.
    private let stats: SystemStatsPublisher
    private let readiness: Readiness
    /// Access rules, API keys, JWT keys and hooks: every decision reads the current ones.
    private let gatekeeperSettings: Reloadable<GatekeeperSettings>
    /// The router that connections accepted now take (origins, limits, HTTP timeouts).
    private let routers: Reloadable<GatewayRouter>
    /// The configuration in force (as started, then as last reloaded).
    private let running: Reloadable<GatewayConfiguration>
    /// Whether the gateway's gatekeeper guards the hub (`accessPolicy` was set at start).
    private let managesAccess: Bool
    /// Hook clients that a reload replaced, shut down by `stop` if their calls outlast it.
    private let retiredHooks = NIOLockedValueBox<[HookClient]>([])
    private let reloads = ReloadQueue()
    private let stopped = NIOLockedValueBox(false)
    private let connections: ConnectionTracker
    private let sockJSServices: [SockJSService]
    /// The drain's wait for clients to leave (`drain.timeout_s`).
    public let drainTimeout: TimeAmount
    private let lagProbe: EventLoopLagProbe?
    /// What `GET /metrics` reports; nil when `metrics.enabled` is off (reloads hand it on).
    private let metrics: GatewayMetrics?
    /// The topic hub every transport feeds.
    public let hub: Hub

    /// The bound HTTP port (useful when the configuration asked for port 0).
    public var httpPort: Int { channel.localAddress?.port ?? 0 }
    /// The bound STOMP-over-TCP port, 0 when off.
    public var stompPort: Int { stompChannel?.localAddress?.port ?? 0 }
    /// The bound STOMP-over-TLS port, 0 when off (no `tls`, or `stompTLSPort` 0).
    public var stompTLSPort: Int { stompTLSChannel?.localAddress?.port ?? 0 }
    /// Whether the HTTP port speaks HTTPS and WSS.
    public var usesTLS: Bool { tls != nil }

    private init(
        group: MultiThreadedEventLoopGroup,
        ownsGroup: Bool,
        channel: Channel,
        stompChannel: Channel?,
        stompTLSChannel: Channel?,
        tls: TLSContextHolder?,
        hub: Hub,
        trimmer: MemoryTrimmer?,
        gatekeeperSettings: Reloadable<GatekeeperSettings>,
        routers: Reloadable<GatewayRouter>,
        running: GatewayConfiguration,
        stats: SystemStatsPublisher,
        readiness: Readiness,
        connections: ConnectionTracker,
        sockJSServices: [SockJSService],
        drainTimeout: TimeAmount,
        lagProbe: EventLoopLagProbe?,
        metrics: GatewayMetrics?,
        logger: Logger
    ) {
        self.lagProbe = lagProbe
        self.metrics = metrics
        self.gatekeeperSettings = gatekeeperSettings
        self.routers = routers
        self.running = Reloadable(running)
        self.managesAccess = running.accessPolicy != nil
        self.connections = connections
        self.sockJSServices = sockJSServices
        self.drainTimeout = drainTimeout
        self.readiness = readiness
        self.group = group
        self.ownsGroup = ownsGroup
        self.channel = channel
        self.stompChannel = stompChannel
        self.stompTLSChannel = stompTLSChannel
        self.tls = tls
        self.hub = hub
        self.trimmer = trimmer
        self.stats = stats
        self.logger = logger
    }

    /// Read buffers start at 512 bytes (NIO's default is 2,048) and grow while reads fill them.
    /// NIO keeps each channel's last read buffer for reuse, so its size is what every idle
    /// connection holds: a subscriber that sent only its CONNECT and SUBSCRIBE keeps 512
    /// bytes, not 2 KiB, while a busy publisher's reads still grow to 64 KiB.
    static let receiveBuffers = AdaptiveRecvByteBufferAllocator(minimum: 128, initial: 512, maximum: 65_536)

    /// Binds the listeners described by `configuration`.
    /// - Throws: `ConfigurationError` when `configuration.tls` names files that do not make a
    ///   certificate and key; the bind's error when a port is taken.
    public static func start(
        configuration: GatewayConfiguration,
        group: MultiThreadedEventLoopGroup? = nil,
        logger: Logger = Logger(label: "perigee")
    ) async throws -> GatewayServer {
        // One registry per server (see `GatewayMetrics`); WebSocket compression counts into it.
        let metrics = configuration.metrics.enabled ? GatewayMetrics() : nil
        var configuration = configuration
        configuration.stompWebSocket.deflateStatistics = metrics?.deflate
        // Before any thread starts: a bad certificate fails the start with its precise error.
        let tls = try configuration.tls.map { files throws(ConfigurationError) in try TLSContextHolder(files: files) }
        let eventLoops = group ?? MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
        var hubConfiguration = configuration.hub
        hubConfiguration.logger = logger
        let tokens: TokenVerifier?
        do {
            tokens = configuration.jwt.isEnabled ? try await TokenVerifier.make(configuration.jwt, metrics: metrics) : nil
        } catch {
            if group == nil { try? await eventLoops.shutdownGracefully() }
            throw error
        }
        let hooks = configuration.hooks.isEnabled ? HookClient(settings: configuration.hooks, group: eventLoops, logger: logger, metrics: metrics) : nil
        let gatekeeper = GatewayGatekeeper(
            policy: configuration.accessPolicy ?? .open,
            apiKeys: configuration.apiKeys,
            apiKeyRoles: configuration.apiKeyRoles,
            tokens: tokens,
            hooks: hooks,
            logger: logger
        )
        if configuration.accessPolicy != nil {
            hubConfiguration.gatekeeper = gatekeeper
        }
        let hub = Hub(group: eventLoops, configuration: hubConfiguration)
        let compressors = WebSocketCompressorPool(group: eventLoops, configuration: configuration.stompWebSocket.deflate, statistics: metrics?.deflate)
        let router = GatewayRouter(configuration: configuration, hub: hub, compressors: compressors, gatekeeper: gatekeeper, logger: logger, metrics: metrics)
        let routers = Reloadable(router)
        let connections = ConnectionTracker()
        let bootstrap = ServerBootstrap(group: eventLoops)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: Self.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    connections.add(channel, speaksHTTP: true)
                    try tls?.addHandler(to: channel, metrics: metrics, transport: "https")
                    try Self.configureHTTP(channel: channel, router: routers.current, connections: connections)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            var stompChannel: Channel?
            var stompTLSChannel: Channel?
            do {
                if configuration.stompPort != 0 {
                    stompChannel = try await bindStomp(host: configuration.host, port: configuration.stompPort, tls: nil, routers: routers, group: eventLoops, connections: connections, metrics: metrics)
                }
                if let tls, configuration.stompTLSPort != 0 {
                    stompTLSChannel = try await bindStomp(host: configuration.host, port: configuration.stompTLSPort, tls: tls, routers: routers, group: eventLoops, connections: connections, metrics: metrics)
                }
            } catch {
                try? await channel.close()
                try? await stompChannel?.close()
                throw error
            }
            let server = GatewayServer(
                group: eventLoops,
                ownsGroup: group == nil,
                channel: channel,
                stompChannel: stompChannel,
                stompTLSChannel: stompTLSChannel,
                tls: tls,
                hub: hub,
                trimmer: configuration.memoryTrimInterval.map { MemoryTrimmer(interval: $0, on: eventLoops.next()) },
                gatekeeperSettings: gatekeeper.settings,
                routers: routers,
                running: configuration,
                stats: SystemStatsPublisher(hub: hub, interval: configuration.statsInterval, on: eventLoops.next()),
                readiness: router.readiness,
                connections: connections,
                sockJSServices: router.sockJSServices,
                drainTimeout: configuration.drainTimeout,
                lagProbe: metrics.map { EventLoopLagProbe(group: eventLoops, metrics: $0) },
                metrics: metrics,
                logger: logger
            )
            router.readiness.set(.ready)
            logger.info(
                "listening",
                metadata: [
                    "http": "\(configuration.host):\(server.httpPort)", "tls": "\(tls != nil)",
                    "stomp": "\(server.stompPort)", "stomp_tls": "\(server.stompTLSPort)",
                ]
            )
            return server
        } catch {
            await hooks?.shutdown()
            if group == nil { try? await eventLoops.shutdownGracefully() }
            throw error
        }
    }

    /// A STOMP-over-TCP listener; with `tls`, each connection first negotiates TLS.
    /// Port -1 picks a free port (tests).
    private static func bindStomp(
        host: String,
        port: Int,
        tls: TLSContextHolder?,
        routers: Reloadable<GatewayRouter>,
        group: MultiThreadedEventLoopGroup,
        connections: ConnectionTracker,
        metrics: GatewayMetrics?
    ) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: Self.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    connections.add(channel, speaksHTTP: false)
                    try tls?.addHandler(to: channel, metrics: metrics, transport: "tcp-tls")
                    // The settings of the moment: a reload changes them for later connections.
                    let router = routers.current
                    let handler = StompTCPHandler(
                        hub: router.hub,
                        lingerTimeout: router.configuration.lingerTimeout,
                        describesClient: router.gatekeeper.settings.current.describesClients,
                        tls: tls != nil
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: host, port: max(port, 0)).get()
    }

    private static func configureHTTP(channel: Channel, router: GatewayRouter, connections: ConnectionTracker) throws {
        let upgrader = WebSocketUpgrader { head in router.webSocketEndpoint(for: head) }
        let http = GatewayHTTPHandler(router: router)
        let configuration = router.configuration
        let guardHandler = HTTPConnectionGuard(
            timeouts: .init(
                head: configuration.httpHeadTimeout,
                body: configuration.httpBodyTimeout,
                keepAlive: configuration.httpKeepAliveTimeout,
                linger: configuration.lingerTimeout
            ),
            requests: router.requests
        )
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // The upgraded connection speaks frames, not HTTP: drop the HTTP handlers.
                    connections.upgraded(context.channel)
                    context.pipeline.syncOperations.removeHandler(name: HTTPConnectionGuard.name, promise: nil)
                    context.pipeline.syncOperations.removeHandler(name: GatewayHTTPHandler.name, promise: nil)
                }
            ),
            withErrorHandling: false
        )
        // Right after the decoder, before NIO's pipelining handler: the guard answers requests
        // that never completed (408, 431), which that handler would take for a protocol violation.
        let decoder = try channel.pipeline.syncOperations.handler(type: ByteToMessageHandler<HTTPRequestDecoder>.self)
        try channel.pipeline.syncOperations.addHandler(guardHandler, name: HTTPConnectionGuard.name, position: .after(decoder))
        try channel.pipeline.syncOperations.addHandler(http, name: GatewayHTTPHandler.name)
    }

    // MARK: Reloading (SIGHUP)

    /// Reads the certificate and key files again and gives the new pair to connections
    /// accepted from now on; open connections keep theirs. Without TLS it does nothing.
    /// Blocking file I/O: not on an event loop.
    /// - Throws: `ConfigurationError` (`file:line: tls.cert_file: ...`) when a file is missing
    ///   or invalid; the pair in use then stays, and the refusal is logged.
    public func reloadCertificates() throws(ConfigurationError) {
        guard let tls else { return }
        try replaceCertificates(with: tls.files)
    }

    /// Applies a configuration read again (SIGHUP) without dropping a connection. Everything
    /// that can fail is checked first (the certificate and key files, the JWT keys); then all of
    /// it is applied at once, or, on an error, none of it:
    ///
    /// - access rules, API keys, JWT keys and hooks: every later decision (a CONNECT, an HTTP
    ///   API request, a SUBSCRIBE or SEND of a session already open, each delivery on a pattern
    ///   subscription) follows them. Open sessions keep the principal they connected with, and
    ///   subscriptions already made stay until the client leaves. A replaced hook client shuts
    ///   down once its calls under way have finished.
    /// - the TLS certificate and key, read again even when the paths are the same: for
    ///   connections accepted from now on.
    /// - limits, heart-beats, timeouts, WebSocket limits, origins, `static.root`: for
    ///   connections (and STOMP sessions) opened from now on; open ones keep theirs. Queue
    ///   limits apply hub-wide at once.
    /// - `channels` and `limits.max_history_bytes`: at once, hub-wide (`Hub.reconfigure` asks
    ///   every topic its policy again).
    /// - listeners (`listen.*`), TLS on or off, `sockjs`, `websocket.permessage_deflate`,
    ///   conformance mode and memory trimming need a restart: a warning names those that
    ///   changed, and their running values stay.
    ///
    /// Logs one `info` line naming what changed (never a value: no secret reaches the log), or
    /// one `error` line with the refusal. Reloads run one at a time, in the order called.
    /// - Throws: `ConfigurationError`, the same text as at start (`file:line: tls.cert_file:
    ///   ...`); the running configuration then stays whole.
    public func reload(_ configuration: GatewayConfiguration) async throws(ConfigurationError) {
        try await reloads.run { await self.apply(configuration) }.get()
    }

    private func apply(_ reloaded: GatewayConfiguration) async -> Result<Void, ConfigurationError> {
        guard !stopped.withLockedValue({ $0 }) else { return .success(()) }
        // Compression keeps counting into this server's metrics after the reload.
        var reloaded = reloaded
        reloaded.stompWebSocket.deflateStatistics = metrics?.deflate
        let running = self.running.current
        let changes = ConfigurationChanges(from: running, to: reloaded)
        let configuration = changes.effective
        let previous = gatekeeperSettings.current

        // Everything that can fail, before anything changes.
        var certificate: (context: NIOSSLContext, files: TLSCertificateFiles)?
        if tls != nil, let files = configuration.tls {
            do {
                certificate = (try files.makeContext(), files)
            } catch {
                return refuse(error)
            }
        }
        var tokens = previous.tokens
        if configuration.jwt != running.jwt {
            do {
                tokens = configuration.jwt.isEnabled ? try await TokenVerifier.make(configuration.jwt, metrics: metrics) : nil
            } catch {
                // The loader has checked the key already; this is the last line of defence.
                return refuse(ConfigurationError(file: "configuration", line: nil, key: "auth.jwt.public_key_file", problem: "expected an RSA or P-256 public key in PEM, but it does not load"))
            }
        }

        // Apply all of it.
        var hooks = previous.hooks
        if configuration.hooks != running.hooks {
            hooks = configuration.hooks.isEnabled ? HookClient(settings: configuration.hooks, group: group, logger: logger, metrics: metrics) : nil
        }
        if let tls, let certificate {
            tls.install(certificate.context, from: certificate.files)
        }
        gatekeeperSettings.replace(
            with: GatekeeperSettings(
                policy: configuration.accessPolicy ?? .open,
                apiKeys: configuration.apiKeys,
                apiKeyRoles: configuration.apiKeyRoles,
                tokens: tokens,
                hooks: hooks
            )
        )
        if let old = previous.hooks, old !== hooks {
            retiredHooks.withLockedValue { $0.append(old) }
            old.retire()
        }
        var hubConfiguration = configuration.hub
        hubConfiguration.logger = logger
        if managesAccess {
            hubConfiguration.gatekeeper = GatewayGatekeeper(settings: gatekeeperSettings, logger: logger)
        }
        hub.reconfigure(hubConfiguration)
        routers.replace(with: routers.current.reconfigured(configuration))
        self.running.replace(with: configuration)
        await endSessions(ofRevokedKeys: Self.revokedKeys(from: running, to: configuration))

        if !changes.needRestart.isEmpty {
            logger.warning(
                "reload: these settings need a restart; their running values stay",
                metadata: ["settings": "\(changes.needRestart.joined(separator: "; "))"]
            )
        }
        let applied = changes.applied.isEmpty ? "nothing" : changes.applied.joined(separator: "; ")
        logger.info("reloaded the configuration", metadata: ["changed": "\(applied)"])
        return .success(())
    }

    private func refuse(_ error: ConfigurationError) -> Result<Void, ConfigurationError> {
        logger.error("reload refused; the running configuration stays", metadata: ["error": "\(error)"])
        return .failure(error)
    }

    private func replaceCertificates(with files: TLSCertificateFiles) throws(ConfigurationError) {
        guard let tls else { return }
        do {
            try tls.replace(with: files)
            logger.info("reloaded the TLS certificate", metadata: ["cert_file": "\(files.certificateFile)", "key_file": "\(files.privateKeyFile)"])
        } catch {
            logger.error("TLS certificate reload refused; the previous certificate stays in use", metadata: ["error": "\(error)"])
            throw error
        }
    }

    /// Succeeds when the HTTP listener closes.
    var listenerClosed: EventLoopFuture<Void> { channel.closeFuture }

    /// Resolves when the listener closes.
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    /// API keys a reload removed, gave a new secret, or took the admin role from, by name.
    static func revokedKeys(from running: GatewayConfiguration, to reloaded: GatewayConfiguration) -> Set<String> {
        Set(running.apiKeys.keys.filter { name in
            let lostAdmin = (running.apiKeyRoles[name]?.contains("admin") ?? false) && !(reloaded.apiKeyRoles[name]?.contains("admin") ?? false)
            return reloaded.apiKeys[name] != running.apiKeys[name] || lostAdmin
        })
    }

    /// Rotating a leaked key must cut off whoever holds it: sessions that connected with a
    /// revoked key end with ERROR `unauthorized` (the key was revoked). Sessions of other
    /// principals keep theirs; their next SUBSCRIBE and SEND follow the new rules.
    private func endSessions(ofRevokedKeys names: Set<String>) async {
        guard !names.isEmpty else { return }
        let ended = try? await hub.terminate(
            matching: { $0.kind == "api_key" && $0.user.map(names.contains) == true },
            with: .unauthorized("the API key was revoked by a configuration reload"),
            on: group.next()
        ).get()
        logger.info("reload: ended the sessions of revoked API keys", metadata: ["keys": .stringConvertible(names.count), "sessions": .stringConvertible(ended ?? 0)])
    }

    // MARK: Draining (SIGTERM, SIGINT)

    /// Drains the server gracefully, then shuts it down (see `GatewayDrain` for the steps):
    /// `/readyz` answers 503 `{"status":"draining"}`, the listeners close, every client is
    /// told to go away the way its transport says it (STOMP ERROR `server shutting down`,
    /// WebSocket close 1001, SockJS `c[3000,"Go away!"]`) after what was queued for it, and
    /// the drain waits up to `timeout` for the connections to close before closing the rest.
    /// A publisher answered with HTTP 202 or a RECEIPT before the drain began lost nothing:
    /// its message reached every subscriber's transport ahead of the goodbye.
    /// - Parameter timeout: the longest wait for clients to leave (default `drainTimeout`,
    ///   `drain.timeout_s`); 0 closes at once. Cancelling the calling task ends the wait early.
    /// - Returns: how many sessions were told, how many connections were closed by force at
    ///   the deadline, and the elapsed milliseconds.
    @discardableResult
    public func drain(timeout: TimeAmount? = nil) async -> GatewayDrainReport {
        trimmer?.cancel()
        let drain = GatewayDrain(
            hub: hub,
            readiness: readiness,
            listeners: [channel, stompChannel, stompTLSChannel].compactMap { $0 },
            sockJS: sockJSServices,
            connections: connections,
            loop: group.next(),
            logger: logger
        )
        stats.cancel()
        lagProbe?.cancel()
        let report = await drain.run(timeout: timeout ?? drainTimeout)
        readiness.set(.stopping)
        try? await release()
        return report
    }

    /// Open connections of every listener (for tests and metrics).
    public var connectionCount: Int { connections.count }

    /// Stops listening and, when the server created its event loops, shuts them down.
    public func stop() async throws {
        readiness.set(.stopping)
        trimmer?.cancel()
        stats.cancel()
        lagProbe?.cancel()
        try? await channel.close()
        try? await stompChannel?.close()
        try? await stompTLSChannel?.close()
        try await release()
    }

    /// After the listeners closed: waits for a reload under way, shuts every hook client down
    /// (so that none a reload made is left running), then the event loops the server made.
    private func release() async throws {
        await reloads.run {
            self.stopped.withLockedValue { $0 = true }
        }
        await gatekeeperSettings.current.hooks?.shutdown()
        for hooks in retiredHooks.withLockedValue({ $0 }) {
            await hooks.shutdown()
        }
        if ownsGroup {
            try await group.shutdownGracefully()
        }
    }
}
