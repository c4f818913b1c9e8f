import NIOCore

/// STOMP over plain TCP: every read goes to the logic as it is; the logic's reader finds frames.
final class TCPClientHandler: ChannelInboundHandler, ClientTransport {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let logic: ClientLogic
    private var context: ChannelHandlerContext?
    private var opened = false
    private var closed = false

    init(logic: ClientLogic) {
        self.logic = logic
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { open() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        open()
        context.fireChannelActive()
    }

    private func open() {
        guard !opened else { return }
        opened = true
        logic.transportOpened(self)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        logic.transportReceived(unwrapInboundIn(data), now: MonotonicClock.nanoseconds())
    }

    func send(_ payload: ByteBuffer) {
        context?.writeAndFlush(wrapOutboundOut(payload), promise: nil)
    }

    func write(_ payload: ByteBuffer) {
        context?.write(wrapOutboundOut(payload), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    func channelInactive(context: ChannelHandlerContext) {
        if !closed {
            closed = true
            logic.transportClosed()
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        logic.transportFailed("\(error)")
        context.close(promise: nil)
    }
}
