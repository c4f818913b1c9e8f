import NIOCore
import NIOHTTP1

/// Publishes with keep-alive HTTP POSTs (Perigee `/api/publish/topic/<name>`, nchan
/// `/pub/<channel>`), pipelining up to `window` requests; every 2xx answer counts as accepted.
///
/// Servers end keep-alive connections (nginx after 1,000 requests, with `Connection: close`):
/// the publisher then stops writing on that connection, opens a new one, and sends again the
/// requests that got no answer, so a renewal loses nothing.
final class HTTPPublisher: PublisherBase {
    private struct Pending {
        var topic: Int
        var body: ByteBuffer
    }

    private var connection: HTTPPublishConnection?
    private var ready: EventLoopPromise<Void>?
    private let uris: [String]
    private let host: String
    private let connector: Connector
    /// Requests written and not answered, oldest first (`pendingHead` marks the oldest).
    private var pending: [Pending] = []
    private var pendingHead = 0
    private var status = 0
    private var closing = false
    private var stopped = false
    private var reconnects = 0
    let window: Int

    init(id: Int, settings: BenchSettings, loop: EventLoop, connector: Connector, ready: EventLoopPromise<Void>, window: Int = 16) {
        self.ready = ready
        self.window = window
        self.host = settings.host
        self.connector = connector
        self.uris = (0..<max(settings.topics, 1)).map { index in
            settings.server == .nchan
                ? "/pub/" + settings.topicName(index)
                : "/api/publish/topic/" + settings.topicName(index)
        }
        super.init(id: id, settings: settings, loop: loop)
    }

    private var inFlight: Int { pending.count - pendingHead }

    /// Opens a connection; the first one completes `ready`.
    func connect() -> EventLoopFuture<Channel> {
        let bound = NIOLoopBound(self, eventLoop: loop)
        let future = connector.connect(on: loop) { channel in
            channel.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                try channel.pipeline.syncOperations.addHandler(HTTPPublishConnection(owner: bound.value))
            }
        }
        future.whenFailure { error in
            let publisher = bound.value
            publisher.recordError("publish connect: \(error)")
            if let ready = publisher.ready {
                // The first connection failed: setup fails, nothing is renewed.
                publisher.ready = nil
                publisher.stopped = true
                ready.fail(error)
            } else {
                publisher.scheduleReconnect()
            }
        }
        return future
    }

    func connectionActive(_ connection: HTTPPublishConnection) {
        self.connection = connection
        closing = false
        status = 0
        // Requests the previous connection never answered go out again, in order.
        let unanswered = pending[pendingHead...]
        pending = []
        pendingHead = 0
        for request in unanswered { write(topic: request.topic, body: request.body) }
        connection.flush()
        ready?.succeed(())
        ready = nil
    }

    func connectionClosed() {
        connection = nil
        scheduleReconnect()
    }

    private func scheduleReconnect() {
        guard !stopped, reconnects < 10_000 else { return }
        reconnects += 1
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: .milliseconds(5)) { _ = bound.value.connect() }
    }

    override func shutdown() {
        stopped = true
        connection?.close()
    }

    override var room: Int {
        guard let connection, !closing, connection.isWritable else { return 0 }
        return max(0, window - inFlight)
    }

    override func emit(count: Int) -> Int {
        guard let connection else { return 0 }
        let now = MonotonicClock.nanoseconds()
        for _ in 0..<count {
            let topic = nextTopic()
            let sequence = nextSequence(topic: topic)
            write(topic: topic, body: body(publisher: id, sequence: sequence, now: now))
        }
        connection.flush()
        return count
    }

    override func emitWarmup(topic: Int) {
        guard let connection else { return }
        warmupSequence += 1
        write(topic: topic, body: body(publisher: settings.warmupPublisher, sequence: warmupSequence, now: MonotonicClock.nanoseconds()))
        connection.flush()
    }

    private func body(publisher: Int, sequence: UInt64, now: UInt64) -> ByteBuffer {
        var body = ByteBufferAllocator().buffer(capacity: settings.effectiveBodySize)
        MessageBody.write(publisher: publisher, sequence: sequence, timestamp: now, size: settings.effectiveBodySize, into: &body)
        return body
    }

    private func write(topic: Int, body: ByteBuffer) {
        pending.append(Pending(topic: topic, body: body))
        guard let connection else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        connection.write(HTTPRequestHead(version: .http1_1, method: .POST, uri: uris[topic], headers: headers), body: body)
    }

    func responseHead(_ head: HTTPResponseHead) {
        status = Int(head.status.code)
        if !head.isKeepAlive { closing = true }
    }

    func responseEnd() {
        guard pendingHead < pending.count else { return }
        pendingHead += 1
        if pendingHead > 4096 {
            pending.removeFirst(pendingHead)
            pendingHead = 0
        }
        if (200..<300).contains(status) {
            accepted += 1
        } else {
            recordError("publish: HTTP \(status)")
        }
    }
}

/// One keep-alive connection of an `HTTPPublisher`.
final class HTTPPublishConnection: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let owner: HTTPPublisher
    private var context: ChannelHandlerContext?

    init(owner: HTTPPublisher) {
        self.owner = owner
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { owner.connectionActive(self) }
    }

    func channelActive(context: ChannelHandlerContext) {
        owner.connectionActive(self)
        context.fireChannelActive()
    }

    func write(_ head: HTTPRequestHead, body: ByteBuffer) {
        guard let context else { return }
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    func close() {
        context?.close(promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): owner.responseHead(head)
        case .body: break
        case .end: owner.responseEnd()
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.context = nil
        owner.connectionClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        owner.recordError("publish: \(error)")
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension HTTPPublishConnection: Sendable {}
