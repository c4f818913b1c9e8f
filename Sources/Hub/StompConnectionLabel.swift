/// What the transport tells the hub about a connection, for operators: metrics by transport,
/// the connection log lines and the admin API's session list. Never used for decisions.
public struct StompConnectionLabel: Sendable, Hashable {
    /// The transport's name: `tcp`, `websocket`, or a SockJS transport (`xhr-streaming`,
    /// `xhr-polling`, `eventsource`, `htmlfile`, `jsonp-polling`, `sockjs-websocket`). A small
    /// fixed set: it becomes a metric label.
    public var transport: String
    /// The client's address as `ip:port`; nil when unknown.
    public var address: String?

    public init(transport: String, address: String? = nil) {
        self.transport = transport
        self.address = address
    }

    /// For connections whose transport did not say (tests).
    public static let unknown = StompConnectionLabel(transport: "unknown")
}
