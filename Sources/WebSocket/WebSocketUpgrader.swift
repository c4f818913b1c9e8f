import NIOCore
import NIOHTTP1

/// Plugs the RFC 6455 handshake into NIO's HTTP upgrade machinery.
///
/// One upgrader is made per connection. When the request is not a valid handshake the upgrader
/// fails and NIO passes the request on to the ordinary HTTP handler, which answers it with the
/// specific status from `WebSocketHandshakeError` (see `WebSocketHandshake.negotiate`): NIO
/// itself would only answer 400 without a reason.
public final class WebSocketUpgrader: HTTPServerProtocolUpgrader {
    public let supportedProtocol = "websocket"
    public let requiredUpgradeHeaders: [String] = []

    private let endpoint: @Sendable (HTTPRequestHead) -> WebSocketEndpoint?
    private var accepted: (WebSocketEndpoint, WebSocketHandshakeResult)?

    /// - Parameter endpoint: finds the endpoint for a request's path, or nil for none.
    public init(endpoint: @escaping @Sendable (HTTPRequestHead) -> WebSocketEndpoint?) {
        self.endpoint = endpoint
    }

    public func buildUpgradeResponse(
        channel: Channel,
        upgradeRequest: HTTPRequestHead,
        initialResponseHeaders: HTTPHeaders
    ) -> EventLoopFuture<HTTPHeaders> {
        guard let endpoint = endpoint(upgradeRequest) else {
            return channel.eventLoop.makeFailedFuture(WebSocketHandshakeError.noSuchEndpoint(upgradeRequest.uri))
        }
        do {
            let result = try WebSocketHandshake.negotiate(upgradeRequest, endpoint: endpoint)
            accepted = (endpoint, result)
            var headers = initialResponseHeaders
            headers.add(contentsOf: result.responseHeaders)
            return channel.eventLoop.makeSucceededFuture(headers)
        } catch {
            return channel.eventLoop.makeFailedFuture(error)
        }
    }

    public func upgrade(context: ChannelHandlerContext, upgradeRequest: HTTPRequestHead) -> EventLoopFuture<Void> {
        guard let (endpoint, result) = accepted else {
            return context.eventLoop.makeFailedFuture(WebSocketHandshakeError.noSuchEndpoint(upgradeRequest.uri))
        }
        let application = endpoint.makeApplication(result, context.channel)
        do {
            if let numbers = result.hixie76Numbers {
                let handler = Hixie76Handler(
                    handshake: result,
                    numbers: numbers,
                    maxMessageSize: endpoint.configuration.maxMessageSize,
                    closeTimeout: endpoint.configuration.closeTimeout,
                    application: application
                )
                try context.pipeline.syncOperations.addHandler(handler)
            } else {
                let handler = WebSocketHandler(handshake: result, configuration: endpoint.configuration, application: application)
                try context.pipeline.syncOperations.addHandler(handler)
            }
            return context.eventLoop.makeSucceededVoidFuture()
        } catch {
            return context.eventLoop.makeFailedFuture(error)
        }
    }
}

@available(*, unavailable)
extension WebSocketUpgrader: Sendable {}
