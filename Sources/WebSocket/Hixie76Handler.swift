import NIOCore

/// A draft-76 WebSocket after its 101 (see `Hixie76Handshake`): it waits for the client's 8
/// challenge bytes, answers them, then carries text messages framed as 0x00 … 0xFF. The
/// closing handshake is the two bytes 0xFF 0x00. Binary frames do not exist in this draft's
/// browser implementations and fail the connection.
public final class Hixie76Handler: ChannelInboundHandler, WebSocketConnection {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    private enum State {
        case awaitingKey3
        case open
        case closed
    }

    public let handshake: WebSocketHandshakeResult
    private let numbers: (UInt32, UInt32)
    private let maxMessageSize: Int
    private let closeTimeout: TimeAmount
    private let application: any WebSocketApplication
    private var state: State = .awaitingKey3
    private var buffer = ByteBuffer()
    /// How many bytes after the current message's 0x00 were already searched for its 0xFF: the
    /// search resumes there, so a message that arrives a byte at a time is still read once.
    private var scanned = 0
    /// Bytes the frame scan has examined since the connection opened (for tests: it must stay
    /// linear in what the client sent).
    private(set) var scannedBytes = 0
    /// The buffer's capacity, consumed bytes included (for tests).
    var bufferCapacity: Int { buffer.capacity }
    private var context: ChannelHandlerContext?
    private var closeTimeoutTask: Scheduled<Void>?
    private var needsFlush = false

    /// - Parameter closeTimeout: how long the closing bytes may take to flush before TCP is
    ///   dropped anyway (a client that stops reading would otherwise hold the connection).
    public init(
        handshake: WebSocketHandshakeResult,
        numbers: (UInt32, UInt32),
        maxMessageSize: Int,
        closeTimeout: TimeAmount = .seconds(3),
        application: any WebSocketApplication
    ) {
        self.handshake = handshake
        self.numbers = numbers
        self.maxMessageSize = maxMessageSize
        self.closeTimeout = closeTimeout
        self.application = application
    }

    // MARK: WebSocketConnection

    public var isOpen: Bool {
        if case .open = state { return context != nil }
        return false
    }

    public var isWritable: Bool { context?.channel.isWritable ?? false }

    public var channel: Channel? { context?.channel }

    public func send(_ message: WebSocketMessage) {
        guard isOpen, message.kind == .text, let context else { return }
        var frame = context.channel.allocator.buffer(capacity: message.data.readableBytes + 2)
        frame.writeInteger(UInt8(0x00))
        var data = message.data
        frame.writeBuffer(&data)
        frame.writeInteger(UInt8(0xFF))
        context.write(wrapOutboundOut(frame), promise: nil)
        needsFlush = true
    }

    public func send(_ outbound: WebSocketOutboundMessage) {
        send(outbound.message)
    }

    public func flush() {
        guard needsFlush, let context else { return }
        needsFlush = false
        context.flush()
    }

    public func close(code: WebSocketCloseCode, reason: String) {
        guard isOpen, let context else { return }
        state = .closed
        // Draft-76 closing frames carry no code or reason.
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: [0xFF, 0x00]))).assumeIsolated().whenComplete { _ in
            context.close(promise: nil)
        }
        closeTimeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: closeTimeout) {
            context.close(promise: nil)
        }
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        buffer.writeBuffer(&bytes)
        if case .awaitingKey3 = state {
            guard let key3 = buffer.readBytes(length: 8) else { return }
            let answer = Hixie76Handshake.response(number1: numbers.0, number2: numbers.1, key3: key3)
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: answer)), promise: nil)
            state = .open
            application.webSocketDidOpen(self)
        }
        readFrames(context: context)
        flush()
    }

    /// `ChannelShouldQuiesceEvent` (the server is draining) closes with 1001 (`goAway(on:)`);
    /// other events pass on.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard goAway(on: event) else { return context.fireUserInboundEventTriggered(event) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        closeTimeoutTask?.cancel()
        closeTimeoutTask = nil
        let wasConnected = self.context != nil
        state = .closed
        self.context = nil
        if wasConnected { application.webSocketDidClose(self, code: nil) }
        context.fireChannelInactive()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    private func readFrames(context: ChannelHandlerContext) {
        while case .open = state, let type = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) {
            switch type {
            case 0x00:
                let view = buffer.readableBytesView.dropFirst()
                let start = view.startIndex + scanned
                guard let end = view[start...].firstIndex(of: 0xFF) else {
                    scannedBytes += view.endIndex - start
                    scanned = view.count
                    if view.count > maxMessageSize { fail(context) }
                    // A client that always leaves part of a message pending must not grow the buffer.
                    buffer.discardConsumedBytes()
                    return
                }
                scannedBytes += end - start + 1
                scanned = 0
                let length = end - view.startIndex
                // A message that arrives whole in one read is checked here, not above.
                guard length <= maxMessageSize else { return fail(context) }
                buffer.moveReaderIndex(forwardBy: 1)
                let payload = buffer.readSlice(length: length) ?? ByteBuffer()
                buffer.moveReaderIndex(forwardBy: 1)
                var validator = UTF8Validator()
                let valid = payload.withUnsafeReadableBytes { validator.feed($0) } && validator.isAtBoundary
                guard valid else { return fail(context) }
                application.webSocket(self, didReceive: WebSocketMessage(kind: .text, data: payload))
            case 0xFF:
                guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return }
                guard second == 0x00 else { return fail(context) }
                close(code: .normalClosure, reason: "")
                return
            default:
                return fail(context)
            }
        }
        buffer.discardConsumedBytes()
    }

    private func fail(_ context: ChannelHandlerContext) {
        state = .closed
        context.close(promise: nil)
    }
}

@available(*, unavailable)
extension Hixie76Handler: Sendable {}
