import Hub
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import WebSocket

/// The running gateway: one listener serving HTTP and WebSocket on an event loop per core.
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
    private let hooks: HookClient?
    private let readiness: Readiness
    private let lagProbe: EventLoopLagProbe?
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
        hooks: HookClient?,
        readiness: Readiness,
        lagProbe: EventLoopLagProbe?,
        logger: Logger
    ) {
        self.lagProbe = lagProbe
        self.hooks = hooks
        self.readiness = readiness
        self.group = group
        self.ownsGroup = ownsGroup
        self.channel = channel
        self.stompChannel = stompChannel
        self.stompTLSChannel = stompTLSChannel
        self.tls = tls
        self.hub = hub
        self.trimmer = trimmer
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
        let hooks = configuration.hooks.isEnabled ? HookClient(settings: configuration.hooks, group: eventLoops, metrics: metrics) : nil
        let gatekeeper = GatewayGatekeeper(policy: configuration.accessPolicy ?? .open, apiKeys: configuration.apiKeys, tokens: tokens, hooks: hooks)
        if configuration.accessPolicy != nil {
            hubConfiguration.gatekeeper = gatekeeper
        }
        let hub = Hub(group: eventLoops, configuration: hubConfiguration)
        let compressors = WebSocketCompressorPool(group: eventLoops, configuration: configuration.stompWebSocket.deflate, statistics: metrics?.deflate)
        let router = GatewayRouter(configuration: configuration, hub: hub, compressors: compressors, gatekeeper: gatekeeper, metrics: metrics)
        let bootstrap = ServerBootstrap(group: eventLoops)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.maxMessagesPerRead, value: 16)
            .childChannelOption(.recvAllocator, value: Self.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandler(to: channel, metrics: metrics, transport: "https")
                    try Self.configureHTTP(channel: channel, router: router)
                }
            }
        do {
            let channel = try await bootstrap.bind(host: configuration.host, port: configuration.port).get()
            var stompChannel: Channel?
            var stompTLSChannel: Channel?
            do {
                if configuration.stompPort != 0 {
                    stompChannel = try await bindStomp(configuration, port: configuration.stompPort, tls: nil, hub: hub, group: eventLoops, metrics: metrics)
                }
                if let tls, configuration.stompTLSPort != 0 {
                    stompTLSChannel = try await bindStomp(configuration, port: configuration.stompTLSPort, tls: tls, hub: hub, group: eventLoops, metrics: metrics)
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
                hooks: hooks,
                readiness: router.readiness,
                lagProbe: metrics.map { EventLoopLagProbe(group: eventLoops, metrics: $0) },
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
        _ configuration: GatewayConfiguration,
        port: Int,
        tls: TLSContextHolder?,
        hub: Hub,
        group: MultiThreadedEventLoopGroup,
        metrics: GatewayMetrics?
    ) async throws -> Channel {
        try await ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 1024)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelOption(.recvAllocator, value: Self.receiveBuffers)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try tls?.addHandler(to: channel, metrics: metrics, transport: "tcp-tls")
                    let handler = StompTCPHandler(
                        hub: hub,
                        lingerTimeout: configuration.lingerTimeout,
                        describesClient: GatewayRouter.describesClients(configuration),
                        tls: tls != nil
                    )
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: configuration.host, port: max(port, 0)).get()
    }

    private static func configureHTTP(channel: Channel, router: GatewayRouter) throws {
        let upgrader = WebSocketUpgrader { head in router.webSocketEndpoint(for: head) }
        let http = GatewayHTTPHandler(router: router)
        let configuration = router.configuration
        let guardHandler = HTTPConnectionGuard(
            timeouts: .init(
                head: configuration.httpHeadTimeout,
                body: configuration.httpBodyTimeout,
                keepAlive: configuration.httpKeepAliveTimeout,
                linger: configuration.lingerTimeout
            )
        )
        try channel.pipeline.syncOperations.configureHTTPServerPipeline(
            withServerUpgrade: (
                upgraders: [upgrader],
                completionHandler: { context in
                    // The upgraded connection speaks frames, not HTTP: drop the HTTP handlers.
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

    /// Applies what can change without a restart from a configuration read again: today the
    /// certificate and key (`tls`). Turning TLS on or off needs a restart and is logged.
    /// - Throws: `ConfigurationError` as `reloadCertificates()`; nothing is applied then.
    public func reload(_ configuration: GatewayConfiguration) throws(ConfigurationError) {
        switch (tls, configuration.tls) {
        case (.some, .some(let files)):
            try replaceCertificates(with: files)
        case (nil, nil):
            break
        default:
            logger.warning("reload: turning TLS on or off needs a restart; the listeners stay as they are")
        }
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

    /// Resolves when the listener closes.
    public func waitUntilClosed() async throws {
        try await channel.closeFuture.get()
    }

    /// Stops listening and, when the server created its event loops, shuts them down.
    public func stop() async throws {
        readiness.set(.stopping)
        trimmer?.cancel()
        lagProbe?.cancel()
        try? await channel.close()
        try? await stompChannel?.close()
        try? await stompTLSChannel?.close()
        await hooks?.shutdown()
        if ownsGroup {
            try await group.shutdownGracefully()
        }
    }
}
