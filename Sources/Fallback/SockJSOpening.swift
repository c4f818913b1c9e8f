import NIOCore
import NIOHTTP1

/// The request that opened a SockJS session: what an application may want to know of its
/// client before the first message (its cookies, its `Origin`, a token in the URL).
public struct SockJSOpening: Sendable {
    /// `xhr-streaming`, `xhr-polling`, `eventsource`, `htmlfile`, `jsonp-polling`,
    /// `sockjs-websocket` (framed WebSocket) or `websocket` (the raw `/websocket`).
    public var transport: String
    public var request: HTTPRequestHead
    public var remoteAddress: SocketAddress?

    public init(transport: String, request: HTTPRequestHead, remoteAddress: SocketAddress?) {
        self.transport = transport
        self.request = request
        self.remoteAddress = remoteAddress
    }
}
