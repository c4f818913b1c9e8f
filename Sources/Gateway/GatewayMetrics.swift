import Hub
import Metrics
import NIOCore
import Prometheus
import WebSocket

/// What `GET /metrics` reports (Prometheus text format 0.0.4), for one `GatewayServer`.
///
/// Two sources, each chosen for its cost:
/// - Events outside the delivery path (handshakes, hook calls, JWT refusals, HTTP answers,
///   API publishes, event-loop lag) go to swift-metrics `Counter`, `Timer` and `Recorder`
///   objects made from a `PrometheusMetricsFactory` over this server's own
///   `PrometheusCollectorRegistry`. Each server has its own registry and passes the factory
///   explicitly; nothing calls `MetricsSystem.bootstrap`, which may run once per process and
///   would make every server of a test process share (and double-count) one set of series.
///   Counters whose labels come from a fixed set are made once, up front, so that an event
///   costs one relaxed atomic addition and no registry lookup.
/// - The hub's counters (connections, messages, bytes, sessions, subscriptions, ERROR frames,
///   limits, slow consumers, deliveries, publish-to-write latency) stay plain integers owned
///   by each shard's event loop (`Hub.statistics`): the delivery path takes no atomic
///   operation. A scrape gathers them from every loop and renders those families itself
///   (`HubMetricsText`), straight from the snapshot: no second copy of each counter to keep
///   in step, and two concurrent scrapes each render a consistent snapshot of their own.
final class GatewayMetrics: Sendable {
    /// Transports whose handshakes are counted from the start (so that they read 0 before the
    /// first one): the WebSocket endpoints, each SockJS transport, and TLS on the HTTP port
    /// (`https`) and on the STOMP TLS port (`tcp-tls`).
    static let handshakeTransports = [
        "websocket", "sockjs-websocket", "xhr-streaming", "xhr-polling", "eventsource", "htmlfile", "jsonp-polling",
        "https", "tcp-tls",
    ]
    /// The hooks and what a call can end in.
    static let hooks = ["connect", "subscribe", "send"]
    static let hookOutcomes = ["allow", "deny", "error", "timeout", "busy"]
    /// Why a JWT is refused (`TokenRejection.reason`).
    static let jwtReasons = [
        "expired", "not_yet_valid", "bad_signature", "bad_issuer", "bad_audience", "bad_subject", "bad_claims",
        "malformed", "unsupported_algorithm", "unknown_key", "too_long",
    ]
    /// Bucket bounds of the hook latency histogram.
    static let hookBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
        .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2_500), .seconds(5), .seconds(10),
    ]

    /// This server's registry: the series made here, rendered by `render(_:)`.
    let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory
    /// Bytes in and out of permessage-deflate compression, counted by the WebSocket layer.
    let deflate = DeflateStatistics()
    private let handshakes: [String: CoreMetrics.Counter]
    private let hookCalls: [String: CoreMetrics.Counter]
    private let hookDurations: [String: CoreMetrics.Timer]
    private let jwtFailures: [String: CoreMetrics.Counter]
    /// HTTP answers by status class, index 1...5.
    private let httpResponses: [CoreMetrics.Counter]
    private let apiPublishes: CoreMetrics.Counter

    init() {
        let registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.durationHistogramBuckets = ["perigee_hook_duration_seconds": Self.hookBuckets]
        self.registry = registry
        self.factory = factory
        handshakes = Dictionary(uniqueKeysWithValues: Self.handshakeTransports.map { transport in
            (transport, CoreMetrics.Counter(label: "perigee_handshakes_total", dimensions: [("transport", transport)], factory: factory))
        })
        var calls: [String: CoreMetrics.Counter] = [:]
        var durations: [String: CoreMetrics.Timer] = [:]
        for hook in Self.hooks {
            durations[hook] = CoreMetrics.Timer(label: "perigee_hook_duration_seconds", dimensions: [("hook", hook)], factory: factory)
            for outcome in Self.hookOutcomes {
                calls[hook + "/" + outcome] = CoreMetrics.Counter(
                    label: "perigee_hook_calls_total",
                    dimensions: [("hook", hook), ("outcome", outcome)],
                    factory: factory
                )
            }
        }
        hookCalls = calls
        hookDurations = durations
        jwtFailures = Dictionary(uniqueKeysWithValues: Self.jwtReasons.map { reason in
            (reason, CoreMetrics.Counter(label: "perigee_jwt_failures_total", dimensions: [("reason", reason)], factory: factory))
        })
        httpResponses = (0...5).map { index in
            CoreMetrics.Counter(label: "perigee_http_requests_total", dimensions: [("status_class", "\(max(index, 1))xx")], factory: factory)
        }
        apiPublishes = CoreMetrics.Counter(label: "perigee_api_publishes_total", factory: factory)
    }

    // MARK: Events

    /// A handshake completed: a WebSocket upgrade, a SockJS session opened, a TLS handshake.
    func handshake(_ transport: String) {
        if let counter = handshakes[transport] {
            counter.increment()
        } else {
            CoreMetrics.Counter(label: "perigee_handshakes_total", dimensions: [("transport", transport)], factory: factory).increment()
        }
    }

    /// A handshake refused or failed. `reason` is a fixed label chosen by the server
    /// (`WebSocketHandshakeError.reason`, a SockJS limit, `tls_error`), never client text.
    func handshakeFailed(_ transport: String, reason: String) {
        CoreMetrics.Counter(
            label: "perigee_handshake_failures_total",
            dimensions: [("transport", transport), ("reason", reason)],
            factory: factory
        ).increment()
    }

    /// One hook call ended in `outcome` (one of `hookOutcomes`) after `nanoseconds`.
    func hookCall(_ hook: String, outcome: String, nanoseconds: Int64) {
        hookCalls[hook + "/" + outcome]?.increment()
        hookDurations[hook]?.recordNanoseconds(max(nanoseconds, 0))
    }

    /// A JWT was refused for `reason` (one of `jwtReasons`).
    func jwtFailure(_ reason: String) {
        jwtFailures[reason]?.increment()
    }

    /// The gateway's HTTP handler answered with `status` (the SockJS transports' own answers
    /// are not counted here: their sessions are).
    func httpResponse(status: Int) {
        httpResponses[min(max(status / 100, 0), 5)].increment()
    }

    /// A message published over `POST /api/publish` reached the hub.
    func apiPublish() {
        apiPublishes.increment()
    }

    /// A recorder for loop `index`'s lag (`EventLoopLagProbe`), in seconds.
    func lagRecorder(loop index: Int) -> CoreMetrics.Recorder {
        CoreMetrics.Recorder(label: "perigee_event_loop_lag_seconds", dimensions: [("loop", "\(index)")], aggregate: false, factory: factory)
    }

    // MARK: Scrape

    /// The whole exposition: this registry's series, then the hub's and the deflate totals.
    func render(_ statistics: HubStatistics) -> String {
        var text = HubMetricsText()
        text.add(statistics)
        let bytes = deflate.bytes
        text.counter("perigee_deflate_input_bytes_total", help: "Payload bytes given to permessage-deflate compression.", value: bytes.input)
        text.counter("perigee_deflate_output_bytes_total", help: "Bytes permessage-deflate compression produced.", value: bytes.output)
        return registry.emitToString() + text.output
    }
}
