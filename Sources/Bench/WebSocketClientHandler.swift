import NIOCore
import WebSocket

/// A WebSocket client connection (RFC 6455 §4.1 handshake, §5 framing in the client role) that
/// hands each complete message to its `ClientLogic` and masks what it sends.
final class WebSocketClientHandler: ChannelInboundHandler, ClientTransport {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum State {
        case handshaking(ByteBuffer?)
        case open
        case closed
    }

    private let logic: ClientLogic
    private let host: String
    private let path: String
    private let subprotocol: String?
    private let offerDeflate: Bool
    private var state: State = .handshaking(nil)
    private var parser = WebSocketFrameParser(role: .client, maxFrameSize: 16 << 20)
    private var inflater: MessageInflater?
    private var fragments: ByteBuffer?
    private var fragmentsCompressed = false
    private var context: ChannelHandlerContext?
    private var maskState: UInt32 = 0x9E37_79B9
    private static let maxMessage = 16 << 20

    init(logic: ClientLogic, host: String, path: String, subprotocol: String?, offerDeflate: Bool) {
        self.logic = logic
        self.host = host
        self.path = path
        self.subprotocol = subprotocol
        self.offerDeflate = offerDeflate
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        maskState ^= UInt32(truncatingIfNeeded: ObjectIdentifier(self).hashValue)
        if context.channel.isActive { sendHandshake(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        sendHandshake(context: context)
        context.fireChannelActive()
    }

    private var handshakeSent = false

    private func sendHandshake(context: ChannelHandlerContext) {
        guard !handshakeSent else { return }
        handshakeSent = true
        var request = "GET \(path) HTTP/1.1\r\nHost: \(host)\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        request += "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        if let subprotocol { request += "Sec-WebSocket-Protocol: \(subprotocol)\r\n" }
        if offerDeflate { request += "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n" }
        request += "\r\n"
        context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: request)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        switch state {
        case .handshaking(var pending):
            if pending == nil {
                pending = bytes
            } else {
                var more = bytes
                pending!.writeBuffer(&more)
            }
            guard var head = pending, let response = HTTPResponseHead.parse(head) else {
                if (pending?.readableBytes ?? 0) > 16384 {
                    fail(context: context, "handshake response head too large")
                } else {
                    state = .handshaking(pending)
                }
                return
            }
            guard response.status == 101 else {
                fail(context: context, "WebSocket handshake: HTTP \(response.status)")
                return
            }
            if response.headerText.contains("permessage-deflate") {
                inflater = MessageInflater(resetsPerMessage: response.headerText.contains("server_no_context_takeover"))
            }
            head.moveReaderIndex(forwardBy: response.length)
            state = .open
            logic.transportOpened(self)
            if head.readableBytes > 0 { parse(head, context: context) }
        case .open:
            parse(bytes, context: context)
        case .closed:
            break
        }
    }

    private func parse(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        parser.append(bytes)
        let now = MonotonicClock.nanoseconds()
        while case .open = state {
            let result: WebSocketFrameParser.ParseResult
            do {
                result = try parser.parseStep()
            } catch {
                fail(context: context, "WebSocket protocol error: \(error)")
                return
            }
            guard case .frame(let frame) = result else { return }
            handle(frame, now: now, context: context)
        }
    }

    private func handle(_ frame: WebSocketFrame, now: UInt64, context: ChannelHandlerContext) {
        switch frame.opcode {
        case .text, .binary:
            if frame.fin && fragments == nil {
                deliver(frame.payload, compressed: frame.rsv1, now: now, context: context)
            } else {
                fragments = frame.payload
                fragmentsCompressed = frame.rsv1
            }
        case .continuation:
            guard var pending = fragments else { return }
            fragments = nil
            var payload = frame.payload
            pending.writeBuffer(&payload)
            if pending.readableBytes > Self.maxMessage {
                fail(context: context, "message too large")
                return
            }
            if frame.fin {
                deliver(pending, compressed: fragmentsCompressed, now: now, context: context)
            } else {
                fragments = pending
            }
        case .ping:
            writeFrame(opcode: .pong, payload: frame.payload)
            context.flush()
        case .close:
            writeFrame(opcode: .close, payload: frame.payload)
            context.flush()
            state = .closed
            context.close(promise: nil)
        default:
            break
        }
    }

    private func deliver(_ payload: ByteBuffer, compressed: Bool, now: UInt64, context: ChannelHandlerContext) {
        if compressed {
            guard let inflater, let inflated = inflater.inflate(payload, limit: Self.maxMessage) else {
                fail(context: context, "permessage-deflate: bad compressed message")
                return
            }
            logic.transportReceived(inflated, now: now)
        } else {
            logic.transportReceived(payload, now: now)
        }
    }

    /// Sends one text message, masked (RFC 6455 §5.3).
    func send(_ payload: ByteBuffer) {
        guard let context, case .open = state else { return }
        writeFrame(opcode: .text, payload: payload)
        context.flush()
    }

    /// Writes without flushing: publishers batch many frames per flush.
    func write(_ payload: ByteBuffer) {
        guard case .open = state else { return }
        writeFrame(opcode: .text, payload: payload)
    }

    func flush() {
        context?.flush()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    private func writeFrame(opcode: WebSocketOpcode, payload: ByteBuffer) {
        guard let context else { return }
        // xorshift: masking keys need not be unpredictable for a load client on loopback.
        maskState ^= maskState << 13
        maskState ^= maskState >> 17
        maskState ^= maskState << 5
        let frame = WebSocketFrame(opcode: opcode, payload: payload)
        let encoded = WebSocketFrameEncoder.encode(frame, maskKey: maskState, allocator: context.channel.allocator)
        context.write(wrapOutboundOut(encoded), promise: nil)
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        state = .closed
        logic.transportFailed(reason)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        state = .closed
        logic.transportClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context: context, "\(error)")
    }
}
