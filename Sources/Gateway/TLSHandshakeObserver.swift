import NIOCore
import NIOSSL
import NIOTLS

/// Sits right after the TLS handler of a new connection and counts how its handshake ended:
/// `perigee_handshakes_total{transport}` when NIOSSL reports it completed,
/// `perigee_handshake_failures_total{transport, reason}` when NIOSSL reports an error first
/// (`tls_error`) or the client leaves before it completes (`closed`). Removes itself once the
/// handshake is done, so that established connections do not pass through it.
final class TLSHandshakeObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny

    private let metrics: GatewayMetrics
    private let transport: String
    private var settled = false

    /// - Parameter transport: `https` on the HTTP port, `tcp-tls` on the STOMP TLS port.
    init(metrics: GatewayMetrics, transport: String) {
        self.metrics = metrics
        self.transport = transport
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted? = event as? TLSUserEvent, !settled {
            settled = true
            metrics.handshake(transport)
            context.fireUserInboundEventTriggered(event)
            context.pipeline.syncOperations.removeHandler(context: context, promise: nil)
            return
        }
        context.fireUserInboundEventTriggered(event)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if !settled, error is NIOSSLError || error is BoringSSLError {
            settled = true
            metrics.handshakeFailed(transport, reason: "tls_error")
        }
        context.fireErrorCaught(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !settled {
            settled = true
            metrics.handshakeFailed(transport, reason: "closed")
        }
        context.fireChannelInactive()
    }
}

@available(*, unavailable)
extension TLSHandshakeObserver: Sendable {}
