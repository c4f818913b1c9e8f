import NIOCore

/// Settings of a SockJS endpoint (SockJS protocol 0.3).
public struct SockJSConfiguration: Sendable {
    /// Whether `/websocket` transports are offered (`/info` reports it).
    public var websocket: Bool = true
    /// Whether the `JSESSIONID` cookie is set (for sticky load balancers).
    public var cookieNeeded: Bool = false
    /// An `h` frame goes out when a receiving connection has been quiet this long.
    public var heartbeatDelay: TimeAmount = .seconds(25)
    /// A session with no receiving connection for this long is closed and freed.
    public var disconnectDelay: TimeAmount = .seconds(5)
    /// A streaming response is ended after this many bytes, so that proxies that buffer
    /// responses deliver it; the client opens the next one.
    public var responseLimit: Int = 128 * 1024
    /// Messages queued for a client between polls (or while its connection is not taking
    /// more), in bytes; past it the session is closed with 1002.
    public var maxQueuedBytes: Int = 4 << 20
    /// Past this many queued bytes the session reports itself not writable, so that the
    /// application applies its own slow-consumer policy first.
    public var queueHighWaterBytes: Int = 64 * 1024
    /// Sessions that may exist at once on one endpoint, and per client address. Past either, a
    /// request that would open one gets 503.
    public var maxSessions: Int = 10_000
    public var maxSessionsPerAddress: Int = 100
    /// The largest body of an `xhr_send`/`jsonp_send`.
    public var maxSendBytes: Int = 1 << 20
    /// The sockjs-client URL the iframe page loads.
    public var sockjsURL: String = "https://cdn.jsdelivr.net/npm/sockjs-client@1/dist/sockjs.min.js"

    public init() {}
}
