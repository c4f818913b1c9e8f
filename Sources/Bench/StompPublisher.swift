import NIOCore

/// Publishes with STOMP SEND frames over TCP or WebSocket, a receipt on every 100th frame so the
/// number of unconfirmed frames stays within a window.
final class StompPublisher: PublisherBase, ClientLogic {
    private enum Sink {
        case tcp(TCPClientHandler)
        case webSocket(WebSocketClientHandler)
    }

    private var sink: Sink?
    private var reader = StompStreamReader()
    private var ready: EventLoopPromise<Void>?
    private var destinations: [[UInt8]]
    /// Frames written (data and warm-up), numbering receipts.
    private var frames = 0
    private var confirmedFrames = 0
    /// Data frames written at each receipted frame number not yet confirmed.
    private var pendingReceipts: [(frame: Int, dataSent: UInt64)] = []
    private var pendingHead = 0
    static let receiptEvery = 100
    let window: Int

    init(id: Int, settings: BenchSettings, loop: EventLoop, ready: EventLoopPromise<Void>, window: Int = 1000) {
        self.ready = ready
        self.window = window
        self.destinations = (0..<max(settings.topics, 1)).map { StompWriter.sendHeader(destination: settings.destination($0)) }
        super.init(id: id, settings: settings, loop: loop)
    }

    override var room: Int {
        guard let sink else { return 0 }
        switch sink {
        case .tcp(let handler): if !handler.isWritable { return 0 }
        case .webSocket(let handler): if !handler.isWritable { return 0 }
        }
        return max(0, window - (frames - confirmedFrames))
    }

    func transportOpened(_ transport: ClientTransport) {
        if let tcp = transport as? TCPClientHandler { sink = .tcp(tcp) }
        if let ws = transport as? WebSocketClientHandler { sink = .webSocket(ws) }
        var connect = ByteBufferAllocator().buffer(capacity: 128)
        StompWriter.connect(dialect: settings.server, into: &connect)
        transport.send(connect)
    }

    func transportReceived(_ payload: ByteBuffer, now: UInt64) {
        reader.append(payload)
        while let frame = reader.next() {
            switch StompStreamReader.kind(of: frame) {
            case .connected:
                ready?.succeed(())
                ready = nil
            case .receipt:
                if let number = StompStreamReader.receiptNumber(of: frame) { confirm(upTo: number) }
            case .error:
                let text = StompStreamReader.errorText(of: frame)
                recordError(text)
                ready?.fail(BenchError("publisher: " + text))
                ready = nil
            case .message, .other:
                break
            }
        }
    }

    private func confirm(upTo number: Int) {
        confirmedFrames = max(confirmedFrames, number)
        while pendingHead < pendingReceipts.count && pendingReceipts[pendingHead].frame <= number {
            accepted = max(accepted, pendingReceipts[pendingHead].dataSent)
            pendingHead += 1
        }
        if pendingHead > 1024 {
            pendingReceipts.removeFirst(pendingHead)
            pendingHead = 0
        }
    }

    func transportFailed(_ reason: String) {
        recordError(reason)
        ready?.fail(BenchError("publisher: " + reason))
        ready = nil
    }

    func transportClosed() {
        sink = nil
        ready?.fail(BenchError("publisher: connection closed"))
        ready = nil
    }

    override func emit(count: Int) -> Int {
        guard let sink else { return 0 }
        let bodySize = settings.effectiveBodySize
        let now = MonotonicClock.nanoseconds()
        switch sink {
        case .tcp(let handler):
            var buffer = ByteBufferAllocator().buffer(capacity: count * (bodySize + 80))
            for _ in 0..<count { writeData(into: &buffer, now: now, bodySize: bodySize) }
            handler.write(buffer)
            handler.flush()
        case .webSocket(let handler):
            for _ in 0..<count {
                var buffer = ByteBufferAllocator().buffer(capacity: bodySize + 80)
                writeData(into: &buffer, now: now, bodySize: bodySize)
                handler.write(buffer)
            }
            handler.flush()
        }
        return count
    }

    private func writeData(into buffer: inout ByteBuffer, now: UInt64, bodySize: Int) {
        let topic = nextTopic()
        let sequence = nextSequence(topic: topic)
        frames += 1
        let receipt = frames % Self.receiptEvery == 0 ? frames : nil
        if let receipt { pendingReceipts.append((receipt, sent)) }
        StompWriter.send(
            destinationHeader: destinations[topic], receipt: receipt, publisher: id, sequence: sequence,
            timestamp: now, bodySize: bodySize, into: &buffer
        )
    }

    override func emitWarmup(topic: Int) {
        guard let sink else { return }
        warmupSequence += 1
        frames += 1
        var buffer = ByteBufferAllocator().buffer(capacity: settings.effectiveBodySize + 80)
        StompWriter.send(
            destinationHeader: destinations[topic], receipt: nil, publisher: settings.warmupPublisher,
            sequence: warmupSequence, timestamp: MonotonicClock.nanoseconds(), bodySize: settings.effectiveBodySize,
            into: &buffer
        )
        // Warm-ups carry no receipt: count them as confirmed so they never eat the window.
        confirmedFrames += 1
        switch sink {
        case .tcp(let handler): handler.send(buffer)
        case .webSocket(let handler): handler.send(buffer)
        }
    }
}
