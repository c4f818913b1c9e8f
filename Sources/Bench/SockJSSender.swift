import NIOCore

/// SockJS `xhr_send` (a POST with a JSON array of strings) on a one-shot connection: the
/// subscriber's receiving request stays open meanwhile, so the send needs its own connection.
enum SockJSSender {
    /// Posts `payload` (STOMP frames) as one SockJS message; fails the logic on a non-2xx answer.
    static func post(
        _ payload: ByteBuffer,
        path: String,
        connector: Connector,
        loop: EventLoop,
        onFailure: @escaping @Sendable (String) -> Void
    ) {
        var body = ByteBufferAllocator().buffer(capacity: payload.readableBytes + 16)
        body.writeString("[\"")
        payload.withUnsafeReadableBytes { JSONString.escape($0, into: &body) }
        body.writeString("\"]")
        var request = ByteBufferAllocator().buffer(capacity: body.readableBytes + 200)
        request.writeString(
            "POST \(path) HTTP/1.1\r\nHost: \(connector.host)\r\nContent-Type: text/plain;charset=UTF-8\r\n"
                + "Content-Length: \(body.readableBytes)\r\nConnection: close\r\n\r\n"
        )
        request.writeBuffer(&body)
        let finalRequest = request
        connector.connect(on: loop) { channel in
            channel.pipeline.eventLoop.makeCompletedFuture {
                try channel.pipeline.syncOperations.addHandler(OneShotRequestHandler(request: finalRequest, onFailure: onFailure))
            }
        }.whenFailure { error in
            onFailure("xhr_send connect: \(error)")
        }
    }
}

/// Writes one request, checks the status line of the answer, closes.
final class OneShotRequestHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let request: ByteBuffer
    private let onFailure: @Sendable (String) -> Void
    private var received: ByteBuffer?
    private var done = false

    init(request: ByteBuffer, onFailure: @escaping @Sendable (String) -> Void) {
        self.request = request
        self.onFailure = onFailure
    }

    func channelActive(context: ChannelHandlerContext) {
        context.writeAndFlush(wrapOutboundOut(request), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !done else { return }
        var bytes = unwrapInboundIn(data)
        if received == nil { received = bytes } else { received!.writeBuffer(&bytes) }
        guard let head = received.flatMap(HTTPResponseHead.parse) else { return }
        done = true
        if !(200..<300).contains(head.status) { onFailure("xhr_send: HTTP \(head.status)") }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !done {
            done = true
            onFailure("xhr_send: closed without an answer")
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }
}
