import NIOCore

/// The channel handler of an upgraded connection: feeds bytes to `WebSocketFrameParser`, frames
/// to `WebSocketConnectionStateMachine`, and carries out the actions they return; it also runs
/// the ping / idle / close timers and the send side of permessage-deflate.
///
/// Writes are batched: the handler flushes once per read burst (`channelReadComplete`), and an
/// application sending outside a read calls `flush()` when it has queued what it has.
public final class WebSocketHandler: ChannelInboundHandler, RemovableChannelHandler {
    public typealias InboundIn = ByteBuffer
    public typealias OutboundOut = ByteBuffer

    /// Payloads up to this size are copied behind their header into one buffer: one small copy
    /// is cheaper than a second iovec. Larger payloads are written as their own buffer.
    private static let coalesceLimit = 1024

    /// The handshake. Its `request` and `responseHeaders` are released once the application
    /// has been told the connection opened (`webSocketDidOpen`), so that a connection that
    /// stays open for hours does not hold the request's headers: copy what you need then.
    public private(set) var handshake: WebSocketHandshakeResult
    private let configuration: WebSocketConfiguration
    private var parser: WebSocketFrameParser
    private var stateMachine: WebSocketConnectionStateMachine
    private let application: any WebSocketApplication
    private var deflater: PerMessageDeflater?
    private var context: ChannelHandlerContext?
    private var lastInput: NIODeadline = .now()
    private var keepAliveTask: Scheduled<Void>?
    private var closeTimeoutTask: Scheduled<Void>?
    private var needsFlush = false
    /// The answer to the latest ping received while the channel was not writable, sent when it
    /// becomes writable again. RFC 6455 §5.5.3 lets an endpoint answer only the most recent
    /// ping, so a client that floods pings without reading holds one pong here instead of an
    /// ever-growing queue of them in the channel.
    private var pendingPong: ByteBuffer?
    private var didNotifyClose = false
    /// After a parser error the byte stream has no frame boundaries left: input is discarded.
    private var inputIsCorrupt = false

    public init(handshake: WebSocketHandshakeResult, configuration: WebSocketConfiguration, application: any WebSocketApplication) {
        self.handshake = handshake
        self.configuration = configuration
        self.application = application
        self.parser = WebSocketFrameParser(role: .server, maxFrameSize: configuration.maxFrameSize)
        self.stateMachine = WebSocketConnectionStateMachine(
            maxMessageSize: configuration.maxMessageSize,
            deflate: handshake.deflate
        )
    }

    // MARK: Application API

    /// The subprotocol agreed in the handshake.
    public var subprotocol: String? { handshake.subprotocol }

    /// Whether the channel accepts more writes without queueing past its high-water mark.
    public var isWritable: Bool { context?.channel.isWritable ?? false }

    /// Whether messages can still be sent (no close frame sent or received).
    public var isOpen: Bool { stateMachine.state == .open && context != nil }

    /// The channel, for its address and event loop.
    public var channel: Channel? { context?.channel }

    /// Queues a message; call `flush()` afterwards when not inside a `didReceive` callback.
    public func send(_ message: WebSocketMessage) {
        send(WebSocketOutboundMessage(message))
    }

    /// Queues a prepared message, using its shared frames where this connection's deflate
    /// parameters allow (see `WebSocketOutboundMessage`): then nothing is allocated or copied.
    public func send(_ outbound: WebSocketOutboundMessage) {
        guard isOpen, let context else { return }
        let message = outbound.message
        if let deflate = handshake.deflate, message.data.readableBytes >= configuration.deflate.compressionThreshold {
            if let shared = outbound.sharedCompressedFrame(for: deflate) {
                context.write(wrapOutboundOut(shared), promise: nil)
                needsFlush = true
                return
            }
            if let compressed = compress(message.data, parameters: deflate, allocator: context.channel.allocator) {
                writeFrame(opcode: message.kind.opcode, rsv1: true, payload: compressed, context: context)
                return
            }
        }
        if let frame = outbound.frame {
            context.write(wrapOutboundOut(frame), promise: nil)
            needsFlush = true
            return
        }
        writeFrame(opcode: message.kind.opcode, rsv1: false, payload: message.data, context: context)
    }

    /// Flushes queued frames.
    public func flush() {
        guard let context, needsFlush else { return }
        needsFlush = false
        context.flush()
    }

    /// Starts the closing handshake (RFC 6455 §7.1.2) with `code`; the TCP connection is dropped
    /// when the peer answers or after the close timeout.
    public func close(code: WebSocketCloseCode = .normalClosure, reason: String = "") {
        guard stateMachine.startClosing(), let context else { return }
        sendCloseAndAwaitReply(code: code, reason: reason, context: context)
    }

    // MARK: ChannelHandler

    public func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        lastInput = context.eventLoop.now
        scheduleKeepAlive(context: context)
        application.webSocketDidOpen(self)
        handshake.releaseHeaders()
    }

    public func handlerRemoved(context: ChannelHandlerContext) {
        teardown()
    }

    /// `ChannelShouldQuiesceEvent` (the server is draining) closes with 1001 (`goAway(on:)`);
    /// other events pass on.
    public func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        guard goAway(on: event) else { return context.fireUserInboundEventTriggered(event) }
    }

    public func channelInactive(context: ChannelHandlerContext) {
        teardown()
        context.fireChannelInactive()
    }

    public func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        lastInput = context.eventLoop.now
        guard !inputIsCorrupt else { return }
        parser.append(unwrapInboundIn(data))
        while self.context != nil, !inputIsCorrupt {
            let result: WebSocketFrameParser.ParseResult
            do {
                result = try parser.parseStep()
            } catch {
                inputIsCorrupt = true
                perform(stateMachine.fail(error), context: context)
                return
            }
            guard case .frame(let frame) = result else { return }
            perform(stateMachine.receive(frame), context: context)
        }
    }

    public func channelReadComplete(context: ChannelHandlerContext) {
        flush()
        context.fireChannelReadComplete()
    }

    public func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, let pong = pendingPong {
            pendingPong = nil
            if stateMachine.state == .open {
                writeFrame(opcode: .pong, rsv1: false, payload: pong, context: context)
                flush()
            }
        }
        application.webSocketWritabilityChanged(self)
        context.fireChannelWritabilityChanged()
    }

    public func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: Actions

    private func perform(_ action: WebSocketConnectionStateMachine.Action, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .deliver(let message):
            application.webSocket(self, didReceive: message)
        case .sendPong(let payload):
            if context.channel.isWritable {
                writeFrame(opcode: .pong, rsv1: false, payload: payload, context: context)
            } else {
                pendingPong = payload  // replaces the answer to an earlier ping (§5.5.3)
            }
        case .replyToClose(let code, let reason):
            let frame = closePayload(code: code, reason: reason, allocator: context.channel.allocator)
            writeFrame(opcode: .close, rsv1: false, payload: frame, context: context)
            needsFlush = false
            // §7.1.1: the server drops TCP right after the closing handshake.
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
                .whenComplete { _ in context.close(promise: nil) }
            // A peer that stops reading would hold that flush, and the connection with all its
            // queued output, forever.
            scheduleCloseTimeout(context: context)
        case .closeCompleted:
            flush()
            context.close(promise: nil)
        case .fail(let error):
            application.webSocket(self, didFail: error)
            sendCloseAndAwaitReply(code: error.closeCode, reason: error.reason, context: context)
        }
    }

    /// Sends our close frame and half-closes: the FIN after it tells the peer no more data is
    /// coming, while we keep reading (and discarding) until its close frame or EOF. Dropping
    /// the whole socket at once could turn unread input into an RST that destroys our close
    /// frame before the peer reads it.
    private func sendCloseAndAwaitReply(code: WebSocketCloseCode, reason: String, context: ChannelHandlerContext) {
        let frame = closePayload(code: code, reason: reason, allocator: context.channel.allocator)
        writeFrame(opcode: .close, rsv1: false, payload: frame, context: context)
        needsFlush = false
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0))).assumeIsolated()
            .whenSuccess { context.close(mode: .output, promise: nil) }
        scheduleCloseTimeout(context: context)
    }

    /// Drops TCP once the close timeout passes, whatever the closing handshake is waiting for.
    private func scheduleCloseTimeout(context: ChannelHandlerContext) {
        closeTimeoutTask = context.eventLoop.assumeIsolated().scheduleTask(in: configuration.closeTimeout) {
            context.close(promise: nil)
        }
    }

    private func closePayload(code: WebSocketCloseCode?, reason: String, allocator: ByteBufferAllocator) -> ByteBuffer {
        var payload = allocator.buffer(capacity: 2 + reason.utf8.count)
        if let code {
            payload.writeInteger(code.rawValue)
            // Control frames carry at most 125 bytes (§5.5); our reasons are short, but be sure.
            payload.writeString(String(decoding: reason.utf8.prefix(123), as: UTF8.self))
        }
        return payload
    }

    private func writeFrame(opcode: WebSocketOpcode, rsv1: Bool, payload: ByteBuffer, context: ChannelHandlerContext) {
        let length = payload.readableBytes
        if length <= Self.coalesceLimit {
            var buffer = context.channel.allocator.buffer(capacity: WebSocketFrameEncoder.maxHeaderSize + length)
            WebSocketFrameEncoder.writeHeader(rsv1: rsv1, opcode: opcode, length: length, into: &buffer)
            var payload = payload
            buffer.writeBuffer(&payload)
            context.write(wrapOutboundOut(buffer), promise: nil)
        } else {
            var header = context.channel.allocator.buffer(capacity: WebSocketFrameEncoder.maxHeaderSize)
            WebSocketFrameEncoder.writeHeader(rsv1: rsv1, opcode: opcode, length: length, into: &header)
            context.write(wrapOutboundOut(header), promise: nil)
            context.write(wrapOutboundOut(payload), promise: nil)
        }
        needsFlush = true
    }

    private func compress(_ data: ByteBuffer, parameters: PerMessageDeflateParameters, allocator: ByteBufferAllocator) -> ByteBuffer? {
        if deflater == nil {
            deflater = PerMessageDeflater(
                windowBits: parameters.serverMaxWindowBits,
                noContextTakeover: parameters.serverNoContextTakeover,
                level: configuration.deflate.compressionLevel,
                memoryLevel: configuration.deflate.memoryLevel
            )
        }
        guard let compressed = deflater?.compress(data, allocator: allocator) else { return nil }
        configuration.deflateStatistics?.record(input: data.readableBytes, output: compressed.readableBytes)
        return compressed
    }

    // MARK: Timers

    /// One timer serves both keep-alive duties: ping a quiet peer, drop a silent one.
    private func scheduleKeepAlive(context: ChannelHandlerContext) {
        let intervals = [configuration.pingInterval, configuration.idleTimeout].compactMap { $0 }
        guard let tick = intervals.min() else { return }
        keepAliveTask = context.eventLoop.assumeIsolated().scheduleTask(in: tick) { [weak self] in
            guard let self, let context = self.context else { return }
            let quiet = context.eventLoop.now - self.lastInput
            if let idle = self.configuration.idleTimeout, quiet >= idle {
                self.close(code: .goingAway, reason: "idle timeout")
                return
            }
            // A channel that is not writable still has output queued, so the peer is not
            // quiet from our side; a ping would only add to what it is not reading.
            if self.stateMachine.state == .open, self.configuration.pingInterval != nil, context.channel.isWritable {
                self.writeFrame(opcode: .ping, rsv1: false, payload: context.channel.allocator.buffer(capacity: 0), context: context)
                self.flush()
            }
            self.scheduleKeepAlive(context: context)
        }
    }

    private func teardown() {
        keepAliveTask?.cancel()
        keepAliveTask = nil
        closeTimeoutTask?.cancel()
        closeTimeoutTask = nil
        deflater = nil
        pendingPong = nil
        guard context != nil else { return }
        context = nil
        if !didNotifyClose {
            didNotifyClose = true
            application.webSocketDidClose(self, code: stateMachine.peerCloseCode)
        }
    }
}

@available(*, unavailable)
extension WebSocketHandler: Sendable {}
