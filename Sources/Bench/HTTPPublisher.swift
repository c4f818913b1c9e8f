import NIOCore
import NIOHTTP1

/// Publishes with keep-alive HTTP POSTs (Perigee `/api/publish/topic/<name>`, nchan
/// `/pub/<channel>`), pipelining up to `window` requests; every 2xx answer counts as accepted.
final class HTTPPublisher: PublisherBase, ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private var context: ChannelHandlerContext?
    private var ready: EventLoopPromise<Void>?
    private let uris: [String]
    private let host: String
    private var inFlight = 0
    private var status = 0
    let window: Int

    init(id: Int, settings: BenchSettings, loop: EventLoop, ready: EventLoopPromise<Void>, window: Int = 16) {
        self.ready = ready
        self.window = window
        self.host = settings.host
        self.uris = (0..<max(settings.topics, 1)).map { index in
            settings.server == .nchan
                ? "/pub/" + settings.topicName(index)
                : "/api/publish/topic/" + settings.topicName(index)
        }
        super.init(id: id, settings: settings, loop: loop)
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { markReady() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        markReady()
        context.fireChannelActive()
    }

    private func markReady() {
        ready?.succeed(())
        ready = nil
    }

    override var room: Int {
        guard let context, context.channel.isWritable else { return 0 }
        return max(0, window - inFlight)
    }

    override func emit(count: Int) -> Int {
        guard let context else { return 0 }
        let now = MonotonicClock.nanoseconds()
        for _ in 0..<count {
            let topic = nextTopic()
            let sequence = nextSequence(topic: topic)
            post(uri: uris[topic], publisher: id, sequence: sequence, now: now, context: context)
        }
        context.flush()
        return count
    }

    override func emitWarmup(topic: Int) {
        guard let context else { return }
        warmupSequence += 1
        post(uri: uris[topic], publisher: settings.warmupPublisher, sequence: warmupSequence, now: MonotonicClock.nanoseconds(), context: context)
        context.flush()
    }

    private func post(uri: String, publisher: Int, sequence: UInt64, now: UInt64, context: ChannelHandlerContext) {
        var body = context.channel.allocator.buffer(capacity: settings.effectiveBodySize)
        MessageBody.write(publisher: publisher, sequence: sequence, timestamp: now, size: settings.effectiveBodySize, into: &body)
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "Content-Type", value: "text/plain")
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        let head = HTTPRequestHead(version: .http1_1, method: .POST, uri: uri, headers: headers)
        inFlight += 1
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        context.write(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
        case .body:
            break
        case .end:
            inFlight -= 1
            if (200..<300).contains(status) {
                accepted += 1
            } else {
                recordError("publish: HTTP \(status)")
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if inFlight > 0 { recordError("publish connection closed with \(inFlight) requests in flight") }
        inFlight = 0
        ready?.fail(BenchError("publisher connection closed"))
        ready = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        recordError("publish: \(error)")
        context.close(promise: nil)
    }
}
