import NIOCore
import NIOHTTP1

/// What the engine needs to know about one WebSocket URL: its limits, how to pick a
/// subprotocol, which origins may connect, and the application that takes the messages.
public struct WebSocketEndpoint: Sendable {
    /// The subprotocol decision for an offer list (RFC 6455 §4.2.2 step 5.4).
    public enum SubprotocolChoice: Sendable, Hashable {
        /// Answer with this protocol (it must be one of the offered).
        case accept(String)
        /// Answer without `Sec-WebSocket-Protocol`.
        case none
        /// Refuse the handshake with 400.
        case reject
    }

    public var configuration: WebSocketConfiguration
    /// Accept the draft-76 handshake too (`Hixie76Handshake`): off by default, on for SockJS,
    /// whose protocol asks for it for the sake of HAProxy.
    public var acceptsHixie76: Bool = false
    /// Called with the offered subprotocols, in the client's order of preference.
    public var selectSubprotocol: @Sendable (_ offered: [String], _ request: HTTPRequestHead) -> SubprotocolChoice
    /// Called with the `Origin` header (nil when absent); `false` answers 403.
    public var acceptOrigin: @Sendable (_ origin: String?) -> Bool
    /// Creates the application for an upgraded connection, on that connection's event loop.
    public var makeApplication: @Sendable (_ connection: WebSocketHandshakeResult, _ channel: Channel) -> any WebSocketApplication

    public init(
        configuration: WebSocketConfiguration = .init(),
        selectSubprotocol: @escaping @Sendable ([String], HTTPRequestHead) -> SubprotocolChoice = { _, _ in .none },
        acceptOrigin: @escaping @Sendable (String?) -> Bool = { _ in true },
        makeApplication: @escaping @Sendable (WebSocketHandshakeResult, Channel) -> any WebSocketApplication
    ) {
        self.configuration = configuration
        self.selectSubprotocol = selectSubprotocol
        self.acceptOrigin = acceptOrigin
        self.makeApplication = makeApplication
    }
}
