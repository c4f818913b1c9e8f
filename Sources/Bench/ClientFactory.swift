import NIOCore
import NIOHTTP1

/// Opens subscriber and publisher connections of the configured dialect and transport.
struct ClientFactory: Sendable {
    let settings: BenchSettings

    private func connector(index: Int, port: Int) -> Connector {
        Connector(host: settings.host, port: port, sourceAddress: settings.sourceAddress(index))
    }

    /// Connects subscriber `index` on `loop`; the future succeeds once its subscription is
    /// confirmed and yields its channel (kept open by the caller until the run ends).
    func subscriber(index: Int, loop: EventLoop, stats: LoopStats, setupTimeout: TimeAmount) -> EventLoopFuture<Channel> {
        let settings = self.settings
        let confirmed = loop.makePromise(of: Void.self)
        let topic = settings.topic(ofSubscriber: index)
        let transport = settings.server == .nchan && settings.transport == .tcp ? .websocket : settings.transport
        let port = transport == .tcp ? settings.stompPort : settings.port
        let connector = self.connector(index: index, port: port)
        let path: String
        switch (settings.server, transport) {
        case (.nchan, _): path = settings.resolvedPath + "/" + settings.topicName(topic)
        case (_, .xhrStreaming), (_, .xhrPolling), (_, .eventsource):
            path = settings.resolvedPath + "/\(index % 1000)/\(settings.runID)s\(index)"
        default: path = settings.resolvedPath
        }
        let channelFuture = connector.connect(on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                let logic = SubscriberLogic(
                    stats: stats, dialect: settings.server, destination: settings.destination(topic),
                    publishers: settings.publishers, confirmation: confirmed
                )
                let sync = channel.pipeline.syncOperations
                switch transport {
                case .websocket:
                    try sync.addHandler(
                        WebSocketClientHandler(
                            logic: logic, host: settings.host, path: path,
                            subprotocol: settings.server.speaksStomp ? "v12.stomp" : nil, offerDeflate: settings.deflate
                        )
                    )
                case .tcp:
                    try sync.addHandler(TCPClientHandler(logic: logic))
                case .xhrStreaming, .xhrPolling, .eventsource:
                    let kind: HTTPStreamKind
                    switch (settings.server, transport) {
                    case (.nchan, .eventsource): kind = .nchanEventSource
                    case (.nchan, _): kind = .nchanLongPoll
                    case (_, .xhrStreaming): kind = .sockjsXHRStreaming
                    case (_, .xhrPolling): kind = .sockjsXHRPolling
                    default: kind = .sockjsEventSource
                    }
                    try sync.addHTTPClientHandlers()
                    try sync.addHandler(HTTPStreamClientHandler(logic: logic, kind: kind, host: settings.host, path: path, connector: connector))
                }
            }
        }
        channelFuture.whenFailure { error in
            stats.data.recordConnectError("connect: \(error)")
            confirmed.fail(error)
        }
        // On timeout the channel is closed: the logic then counts the failure ("closed before the
        // subscription was confirmed"); a connect that never completed is counted above.
        let timeout = loop.scheduleTask(in: setupTimeout) {
            channelFuture.whenSuccess { $0.close(promise: nil) }
            confirmed.fail(BenchError("subscription not confirmed in time"))
        }
        return confirmed.futureResult.and(channelFuture).map { _, channel in
            timeout.cancel()
            return channel
        }
    }

    /// Connects publisher `id` on `loop`; succeeds once it may publish (STOMP CONNECTED, HTTP
    /// connection open).
    func publisher(id: Int, loop: EventLoop, setupTimeout: TimeAmount) -> EventLoopFuture<(Channel, NIOLoopBound<PublisherBase>)> {
        let settings = self.settings
        let via = settings.resolvedPublishVia
        let port = via == .tcp ? settings.stompPort : settings.port
        let connector = Connector(host: settings.host, port: port, sourceAddress: nil)
        return loop.flatSubmit {
            let ready = loop.makePromise(of: Void.self)
            let built: PublisherBase
            switch via {
            case .http: built = HTTPPublisher(id: id, settings: settings, loop: loop, ready: ready)
            case .tcp, .websocket: built = StompPublisher(id: id, settings: settings, loop: loop, ready: ready)
            }
            let publisher = NIOLoopBound(built, eventLoop: loop)
            return Self.connectPublisher(publisher, via: via, connector: connector, settings: settings, ready: ready, loop: loop, setupTimeout: setupTimeout)
        }
    }

    private static func connectPublisher(
        _ publisher: NIOLoopBound<PublisherBase>,
        via: PublishVia,
        connector: Connector,
        settings: BenchSettings,
        ready: EventLoopPromise<Void>,
        loop: EventLoop,
        setupTimeout: TimeAmount
    ) -> EventLoopFuture<(Channel, NIOLoopBound<PublisherBase>)> {
        let channelFuture = connector.connect(on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                let sync = channel.pipeline.syncOperations
                let value = publisher.value
                switch via {
                case .http:
                    try sync.addHTTPClientHandlers()
                    if let handler = value as? HTTPPublisher { try sync.addHandler(handler) }
                case .tcp:
                    if let logic = value as? StompPublisher { try sync.addHandler(TCPClientHandler(logic: logic)) }
                case .websocket:
                    let path = settings.resolvedPath
                    if let logic = value as? StompPublisher {
                        try sync.addHandler(
                            WebSocketClientHandler(logic: logic, host: settings.host, path: path, subprotocol: "v12.stomp", offerDeflate: false)
                        )
                    }
                }
            }
        }
        channelFuture.whenFailure { ready.fail($0) }
        let timeout = loop.scheduleTask(in: setupTimeout) { ready.fail(BenchError("publisher not ready in time")) }
        return ready.futureResult.and(channelFuture).map { _, channel in
            timeout.cancel()
            return (channel, publisher)
        }
    }
}
