import NIOCore
import NIOHTTP1
import WebSocket

/// Answers plain HTTP requests, and WebSocket handshakes that could not be upgraded (with the
/// specific status of `WebSocketHandshakeError`, since NIO's upgrade handler only passes the
/// request on).
final class GatewayHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "perigee.http"

    private let router: GatewayRouter
    private var request: HTTPRequestHead?

    init(router: GatewayRouter) {
        self.router = router
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
        case .body:
            break  // no endpoint takes a body yet
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A refused handshake: the request itself follows and is answered in `respond`.
        if error is WebSocketHandshakeError { return }
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        if WebSocketHandshake.isUpgradeRequest(head) {
            respondToRefusedUpgrade(head, context: context)
            return
        }
        let path = GatewayRouter.path(of: head.uri)
        switch (head.method, path) {
        case (.GET, "/"), (.HEAD, "/"):
            send(.ok, body: "Perigee real-time gateway\n", head: head, context: context)
        default:
            send(.notFound, body: "not found: \(path)\n", head: head, context: context)
        }
    }

    /// The request asked for WebSocket but was not upgraded: say exactly why, then close (the
    /// HTTP decoder stops parsing after an upgrade request, so the connection cannot go on).
    private func respondToRefusedUpgrade(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let error: WebSocketHandshakeError
        if let endpoint = router.webSocketEndpoint(for: head) {
            do {
                _ = try WebSocketHandshake.negotiate(head, endpoint: endpoint)
                // Valid, yet not upgraded: NIO upgrades only the first request of a connection.
                send(
                    .badRequest,
                    body: "WebSocket upgrade must be the first request on a connection\n",
                    head: head,
                    keepAlive: false,
                    context: context
                )
                return
            } catch let refused {
                error = refused
            }
        } else {
            error = .noSuchEndpoint(GatewayRouter.path(of: head.uri))
        }
        send(error.status, extraHeaders: error.headers, body: error.message + "\n", head: head, keepAlive: false, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus,
        extraHeaders: HTTPHeaders = [:],
        body: String,
        head: HTTPRequestHead,
        keepAlive: Bool? = nil,
        context: ChannelHandlerContext
    ) {
        let keepAlive = keepAlive ?? head.isKeepAlive
        var headers = extraHeaders
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension GatewayHTTPHandler: Sendable {}
