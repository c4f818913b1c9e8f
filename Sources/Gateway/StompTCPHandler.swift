import Hub
import NIOCore

/// STOMP over a plain TCP connection (the standard port 61613).
final class StompTCPHandler: ChannelInboundHandler, StompTransport {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let hub: Hub
    private let lingerTimeout: TimeAmount
    private let describesClient: Bool
    private let tls: Bool
    private var connection: StompConnection?
    private var context: ChannelHandlerContext?
    /// Closing after an error: input is read and discarded until EOF or the linger timeout.
    private var lingering = false

    /// - Parameter lingerTimeout: how long input is drained after an ERROR before the
    ///   connection is dropped.
    /// - Parameters:
    ///   - describesClient: whether the gatekeeper reads a `ClientContext` (hooks).
    ///   - tls: whether the connection runs over TLS (STOMP over TLS), as the hooks are told.
    init(hub: Hub, lingerTimeout: TimeAmount, describesClient: Bool = false, tls: Bool = false) {
        self.hub = hub
        self.lingerTimeout = lingerTimeout
        self.describesClient = describesClient
        self.tls = tls
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        let client = describesClient ? ClientContext(transport: "tcp", tls: tls, address: context.channel.remoteAddress) : nil
        let label = StompConnectionLabel(transport: tls ? "tcp-tls" : "tcp", address: context.channel.remoteAddress.map(Self.describe))
        connection = StompConnection(hub: hub, eventLoop: context.eventLoop, transport: self, client: client, label: label)
        if connection == nil { context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !lingering else { return }
        connection?.receive(unwrapInboundIn(data))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        connection?.writabilityChanged()
        context.fireChannelWritabilityChanged()
    }

    func channelInactive(context: ChannelHandlerContext) {
        connection?.transportClosed()
        connection = nil
        self.context = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: StompTransport

    func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) {
        context?.write(wrapOutboundOut(bytes), promise: nil)
    }

    func flush() {
        context?.flush()
    }

    var isWritable: Bool { context?.channel.isWritable ?? false }

    var carriesTextOnly: Bool { false }

    func close(afterError: Bool) {
        guard let context else { return }
        let flushed = context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(capacity: 0)))
        guard afterError else {
            flushed.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
            return
        }
        LingeringClose.start(context: context, timeout: lingerTimeout, after: flushed)
        lingering = true
    }

    func abort(farewell: ByteBuffer) {
        guard let context else { return }
        context.writeAndFlush(wrapOutboundOut(farewell), promise: nil)
        context.close(promise: nil)
    }
}

extension StompTCPHandler {
    /// `ip:port` (`[ip]:port` for IPv6), or the socket's description for other kinds.
    static func describe(_ address: SocketAddress) -> String {
        guard let ip = address.ipAddress, let port = address.port else { return "\(address)" }
        return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)"
    }
}

@available(*, unavailable)
extension StompTCPHandler: Sendable {}
