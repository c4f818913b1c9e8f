@testable import Gateway
import Hub
import NIOCore
import Testing

/// `GET /metrics` (issue 10, item 1): the Prometheus text format, who may read it, and
/// counters that match what a scripted session did.
@Suite(.timeLimit(.minutes(2)))
struct MetricsEndpointTests {
    /// Samples of an exposition by `name{labels}` as written (labels in the server's order).
    private struct Scrape {
        var text: String
        var samples: [String: Double] = [:]

        init(_ text: String) {
            self.text = text
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
                samples[String(line[..<space])] = value
            }
        }

        subscript(_ key: String) -> Double { samples[key] ?? 0 }
    }

    private static func scrape(_ port: Int, headers: [String] = []) async throws -> Scrape {
        let response = try await HTTPTestClient.request(port: port, method: "GET", path: "/metrics", headers: headers)
        #expect(response.status == 200, "\(response.head)\(response.body)")
        #expect(response.header("content-type") == "text/plain; version=0.0.4; charset=utf-8")
        return Scrape(response.body)
    }

    /// Scrapes until `condition` holds (connections close asynchronously), at most ~5 s.
    private static func scrape(_ port: Int, until condition: (Scrape) -> Bool) async throws -> Scrape {
        var last = try await scrape(port)
        for _ in 0..<100 where !condition(last) {
            try await Task.sleep(for: .milliseconds(50))
            last = try await scrape(port)
        }
        return last
    }

    private static func subscribe(_ client: inout StompTestClient, _ destination: String) async throws {
        try await client.send(.subscribe, ["destination": destination, "id": "s", "receipt": "sub"])
        #expect(try await client.next()?.command == .receipt)
    }

    @Test func countersFollowAScriptedSession() async throws {
        let destination = "/topic/metrics-secret-destination"
        try await withTestServer({ $0.hub.limits.maxFrameSize = 1_024 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            let port = server.httpPort
            let before = try await Self.scrape(port)
            #expect(before.text.contains("# TYPE perigee_connections_opened_total counter"))
            #expect(before.text.contains("# TYPE perigee_publish_to_write_seconds histogram"))
            #expect(before.samples["perigee_handshakes_total{transport=\"websocket\"}"] != nil, "pre-registered at 0")

            var tcpA = try await StompTestClient.connect(handle, over: .tcp)
            var tcpB = try await StompTestClient.connect(handle, over: .tcp)
            var ws = try await StompTestClient.connect(handle, over: .webSocket)
            for index in 0..<3 {
                switch index {
                case 0: try await Self.subscribe(&tcpA, destination)
                case 1: try await Self.subscribe(&tcpB, destination)
                default: try await Self.subscribe(&ws, destination)
                }
            }
            // Two publishes over HTTP, one SEND over STOMP/TCP from a fourth client.
            for body in ["one", "two"] {
                let published = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish" + destination, body: body)
                #expect(published.status == 202, "\(published.body)")
            }
            var sender = try await StompTestClient.connect(handle, over: .tcp)
            try await sender.send(.send, ["destination": destination, "receipt": "r"], body: "three")
            #expect(try await sender.next()?.command == .receipt)
            for var client in [tcpA, tcpB, ws] {
                for _ in 0..<3 { #expect(try await client.next()?.command == .message) }
            }
            // One bad frame (ERROR), one frame over the 1,024-byte limit, one refused handshake.
            var bad = try await StompTestClient.connect(handle, over: .tcp)
            try await bad.sendRaw(ByteBuffer(string: "FROB\n\n\u{0}"))
            #expect(try await bad.drainUntilClosed().last?.headers["message"] == "unknown command")
            var big = try await StompTestClient.connect(handle, over: .tcp)
            try await big.sendRaw(ByteBuffer(string: "SEND\ndestination:/topic/x\n\n" + String(repeating: "x", count: 2_000) + "\u{0}"))
            #expect(try await big.drainUntilClosed().last?.headers["message"] == "frame too large")
            var refused = try await RawWebSocketClient.connect(port: port)
            let answer = try await refused.request(RawWebSocketClient.handshake(path: "/stomp", headers: [], version: "8"))
            #expect(answer.hasPrefix("HTTP/1.1 426"))
            await refused.close()
            for client in [tcpA, tcpB, ws, sender] { await client.close() }

            let after = try await Self.scrape(port) { $0["perigee_connections_open{transport=\"tcp\"}"] == 0 && $0["perigee_connections_open{transport=\"websocket\"}"] == 0 }
            func delta(_ key: String) -> Double { after[key] - before[key] }
            #expect(delta("perigee_connections_opened_total{transport=\"tcp\"}") == 5)
            #expect(delta("perigee_connections_opened_total{transport=\"websocket\"}") == 1)
            #expect(after["perigee_connections_open{transport=\"tcp\"}"] == 0)
            #expect(delta("perigee_handshakes_total{transport=\"websocket\"}") == 1)
            #expect(delta("perigee_handshake_failures_total{transport=\"websocket\",reason=\"version\"}") == 1)
            #expect(delta("perigee_messages_received_total{transport=\"tcp\"}") == 1)
            #expect(delta("perigee_messages_sent_total{transport=\"tcp\"}") == 6)
            #expect(delta("perigee_messages_sent_total{transport=\"websocket\"}") == 3)
            // The oversized frame counts up to where the parser stopped it (past the limit).
            #expect(delta("perigee_received_bytes_total{transport=\"tcp\"}") > 1_024)
            #expect(delta("perigee_sent_bytes_total{transport=\"websocket\"}") > 3 * Double(destination.utf8.count))
            #expect(delta("perigee_deliveries_total") == 9)
            #expect(delta("perigee_api_publishes_total") == 2)
            #expect(delta("perigee_stomp_errors_total{message=\"unknown command\"}") == 1)
            #expect(delta("perigee_stomp_errors_total{message=\"frame too large\"}") == 1)
            #expect(delta("perigee_limit_hits_total{limit=\"frame_size\"}") == 1)
            #expect(after["perigee_subscriptions"] == 0)
            // One sample per message and per loop that had subscribers: 3 to 3 × loops.
            let samples = delta("perigee_publish_to_write_seconds_count")
            #expect(samples >= 3 && samples <= 3 * Double(System.coreCount), "\(samples)")
            #expect(after["perigee_publish_to_write_seconds_bucket{le=\"+Inf\"}"] == after["perigee_publish_to_write_seconds_count"])
            #expect(delta("perigee_http_requests_total{status_class=\"2xx\"}") >= 2)
            #expect(!after.text.contains("metrics-secret-destination"), "a destination became a label")
        }
    }

    @Test func sessionsAndSubscriptionsAreGauges() async throws {
        try await withTestServer { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var client = try await StompTestClient.connect(handle, over: .tcp)
            try await Self.subscribe(&client, "/topic/a")
            let during = try await Self.scrape(server.httpPort)
            #expect(during["perigee_sessions{kind=\"anonymous\"}"] == 1)
            #expect(during["perigee_subscriptions"] == 1)
            await client.close()
            let after = try await Self.scrape(server.httpPort) { $0["perigee_subscriptions"] == 0 }
            #expect(after["perigee_sessions{kind=\"anonymous\"}"] == 0)
        }
    }

    @Test func accessByAPIKey() async throws {
        try await withTestServer({
            $0.apiKeys = ["ops": "metrics-key-1"]
            $0.metrics.access = .apiKey
        }) { server in
            let port = server.httpPort
            let missing = try await HTTPTestClient.request(port: port, method: "GET", path: "/metrics")
            #expect(missing.status == 401)
            #expect(missing.body.contains("missing Authorization: Bearer"))
            let notBearer = try await HTTPTestClient.request(port: port, method: "GET", path: "/metrics", headers: ["Authorization: Basic abc"])
            #expect(notBearer.status == 401)
            let wrong = try await HTTPTestClient.request(port: port, method: "GET", path: "/metrics", headers: ["Authorization: Bearer nope"])
            #expect(wrong.status == 403)
            #expect(wrong.body == "{\"error\":\"unknown API key\"}\n")
            _ = try await Self.scrape(port, headers: ["Authorization: Bearer metrics-key-1"])
            let posted = try await HTTPTestClient.request(port: port, method: "POST", path: "/metrics")
            #expect(posted.status == 405)
        }
    }

    @Test func disabledIsNotFound() async throws {
        try await withTestServer({ $0.metrics.enabled = false }) { server in
            let response = try await HTTPTestClient.request(port: server.httpPort, method: "GET", path: "/metrics")
            #expect(response.status == 404)
        }
    }

    @Test func loopbackOnlyByDefault() {
        #expect(MetricsAccess.refusal(.loopback, isLoopback: true, authorization: nil, apiKeys: [:]) == nil)
        let refused = MetricsAccess.refusal(.loopback, isLoopback: false, authorization: "Bearer k", apiKeys: ["k": "k"])
        #expect(refused?.status == .forbidden)
        #expect(MetricsAccess.refusal(.open, isLoopback: false, authorization: nil, apiKeys: [:]) == nil)
        #expect(MetricsAccess.refusal(.apiKey, isLoopback: false, authorization: "Bearer secret-1", apiKeys: ["a": "secret-1"]) == nil)
    }

    @Test func jwtRefusalsHaveFixedReasons() {
        var settings = TokenSettings()
        settings.issuer = "https://issuer.test"
        settings.leewaySeconds = 0
        func reason(_ claims: [(String, JSONValue)]) -> String? {
            guard case .failure(let rejection) = VerifiedToken.checked(.object(claims), settings: settings, now: 1_000) else { return nil }
            return rejection.reason
        }
        let issuer: (String, JSONValue) = ("iss", "https://issuer.test")
        #expect(reason([("sub", "a"), issuer, ("exp", .number(999))]) == "expired")
        #expect(reason([("sub", "a"), issuer, ("nbf", .number(1_001))]) == "not_yet_valid")
        #expect(reason([("sub", "a"), ("iss", "elsewhere")]) == "bad_issuer")
        #expect(reason([issuer]) == "bad_subject")
        #expect(reason([("sub", "a"), issuer]) == nil)
        for reason in GatewayMetrics.jwtReasons { #expect(!reason.isEmpty) }
    }

    @Test func eventCountersRender() {
        let metrics = GatewayMetrics()
        metrics.jwtFailure("expired")
        metrics.hookCall("send", outcome: "timeout", nanoseconds: 3_000_000)
        metrics.handshakeFailed("tcp-tls", reason: "tls_error")
        metrics.deflate.record(input: 1_000, output: 120)
        let scrape = Scrape(metrics.render(HubStatistics()))
        #expect(scrape["perigee_jwt_failures_total{reason=\"expired\"}"] == 1)
        #expect(scrape["perigee_jwt_failures_total{reason=\"malformed\"}"] == 0)
        #expect(scrape["perigee_hook_calls_total{hook=\"send\",outcome=\"timeout\"}"] == 1)
        #expect(scrape["perigee_hook_duration_seconds_count{hook=\"send\"}"] == 1)
        #expect(scrape["perigee_handshake_failures_total{transport=\"tcp-tls\",reason=\"tls_error\"}"] == 1)
        #expect(scrape["perigee_deflate_input_bytes_total"] == 1_000)
        #expect(scrape["perigee_deflate_output_bytes_total"] == 120)
        #expect(scrape.text.contains("# TYPE perigee_hook_duration_seconds histogram"))
    }

    @Test func histogramBucketsAreCumulative() {
        var histogram = LatencyHistogram()
        histogram.record(nanoseconds: 50_000)  // ≤ 0.1 ms
        histogram.record(nanoseconds: 3_000_000)  // ≤ 5 ms
        histogram.record(nanoseconds: 9_000_000_000)  // above 5 s
        histogram.record(nanoseconds: -1)  // counts as 0
        var statistics = HubStatistics()
        statistics.publishToWrite = histogram
        var text = HubMetricsText()
        text.add(statistics)
        let scrape = Scrape(text.output)
        #expect(scrape["perigee_publish_to_write_seconds_bucket{le=\"0.0001\"}"] == 2)
        #expect(scrape["perigee_publish_to_write_seconds_bucket{le=\"0.005\"}"] == 3)
        #expect(scrape["perigee_publish_to_write_seconds_bucket{le=\"5.0\"}"] == 3)
        #expect(scrape["perigee_publish_to_write_seconds_bucket{le=\"+Inf\"}"] == 4)
        #expect(scrape["perigee_publish_to_write_seconds_count"] == 4)
        #expect(abs(scrape["perigee_publish_to_write_seconds_sum"] - 9.00305) < 1e-9)
        #expect(HubMetricsText.escaped("a\"b\\c\nd") == "a\\\"b\\\\c\\nd")
    }
}
