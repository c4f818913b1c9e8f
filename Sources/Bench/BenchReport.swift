/// The result of a run: a readable table and the one-line JSON contract.
package struct BenchReport: Sendable {
    package var settings: BenchSettings
    package var connectSeconds: Double?
    package var connectionsPerSecond: Double?
    package var connectErrors = 0
    package var confirmed = 0
    package var errors = 0
    package var errorSamples: [String] = []
    package var steps: [StepResult] = []
    package var maxSustainedDeliveriesPerSecond: Double?
    package var publishesAcceptedPerSecond: Double?
    package var publishErrors = 0
    package var serverRSSBefore: Int?
    package var serverRSSAfter: Int?
    package var rssPerConnectionKiB: Double?
    package var serverCPUPercent: Double?
    package var clientCPUPercent: Double?
    package var clientBound: Bool?
    package var ok = false

    /// True when the run saw any loss, reordering, duplicate or failed connection.
    package var sawLossOrFailure: Bool {
        connectErrors > 0 || steps.contains { $0.lost > 0 || $0.reordered > 0 || $0.duplicates > 0 || $0.disconnected > 0 }
    }

    package var json: JSONValue {
        let s = settings
        let isFanout = s.mode == .fanout
        return .object([
            ("tool", .string("perigee-bench")),
            ("mode", .string(s.mode.rawValue)),
            ("server", .string(s.server.rawValue)),
            ("transport", s.subscribers > 0 ? .string(s.transport.rawValue) : .null),
            ("deflate", .bool(s.deflate)),
            ("subscribers", .int(s.subscribers)),
            ("topics", .int(s.topics)),
            ("publishers", .int(s.mode == .fanout || s.mode == .ingest ? s.publishers : 0)),
            ("publish_via", s.mode == .fanout || s.mode == .ingest ? .string(s.resolvedPublishVia.rawValue) : .null),
            ("body_bytes", .int(s.effectiveBodySize)),
            ("connect_s", .number(connectSeconds)),
            ("connections_per_s", .number(connectionsPerSecond, decimals: 1)),
            ("connect_errors", .int(connectErrors)),
            ("subscribed", .int(confirmed)),
            ("errors", .int(errors + publishErrors)),
            ("error_samples", .array(errorSamples.prefix(5).map { .string($0) })),
            ("steps", .array(steps.map(\.json))),
            ("max_sustained_deliveries_per_s", isFanout ? .number(maxSustainedDeliveriesPerSecond ?? 0, decimals: 1) : .null),
            ("publishes_accepted_per_s", .number(publishesAcceptedPerSecond, decimals: 1)),
            ("server_rss_kib_before", serverRSSBefore.map { .int($0) } ?? .null),
            ("server_rss_kib_after", serverRSSAfter.map { .int($0) } ?? .null),
            ("rss_per_connection_kib", .number(rssPerConnectionKiB, decimals: 2)),
            ("server_cpu_pct", .number(serverCPUPercent, decimals: 1)),
            ("client_cpu_pct", .number(clientCPUPercent, decimals: 1)),
            ("client_bound", clientBound.map { .bool($0) } ?? .null),
            ("ok", .bool(ok)),
        ])
    }

    package var table: String {
        let s = settings
        var lines: [String] = []
        lines.append(
            "perigee-bench \(s.mode.rawValue): server=\(s.server.rawValue) transport=\(s.transport.rawValue)\(s.deflate ? "+deflate" : "") "
                + "subscribers=\(s.subscribers) topics=\(s.topics) publishers=\(s.publishers) via=\(s.resolvedPublishVia.rawValue) body=\(s.effectiveBodySize)B"
        )
        if let connectSeconds {
            lines.append(
                "connect: \(confirmed) subscribed in \(fmt(connectSeconds, 3)) s (\(fmt(connectionsPerSecond ?? 0, 0))/s), \(connectErrors) errors"
            )
        }
        if !steps.isEmpty {
            lines.append(
                pad("offered/s", 10) + pad("publish/s", 10) + pad("deliv/s", 11) + pad("expected", 10) + pad("lost", 7) + pad("reord", 6)
                    + pad("dup", 5) + pad("p50ms", 8) + pad("p99ms", 8) + pad("maxms", 8) + pad("srv%", 7) + pad("cli%", 7) + "result"
            )
            for step in steps {
                let latency = step.latencyMs
                lines.append(
                    pad(fmt(step.offeredRate, 0), 10) + pad(fmt(step.publishRate, 0), 10) + pad(fmt(step.deliveriesPerSecond, 0), 11)
                        + pad("\(step.expected)", 10) + pad("\(step.lost)", 7) + pad("\(step.reordered)", 6) + pad("\(step.duplicates)", 5)
                        + pad(latency.map { fmt($0.p50, 2) } ?? "-", 8) + pad(latency.map { fmt($0.p99, 2) } ?? "-", 8)
                        + pad(latency.map { fmt($0.max, 1) } ?? "-", 8) + pad(step.serverCPUPercent.map { fmt($0, 0) } ?? "-", 7)
                        + pad(step.clientCPUPercent.map { fmt($0, 0) } ?? "-", 7)
                        + (step.passed ? "pass" : "FAIL") + (step.clientBound ? " (client-bound)" : "")
                )
            }
            if s.mode == .fanout {
                lines.append("max sustained deliveries/s: \(fmt(maxSustainedDeliveriesPerSecond ?? 0, 0))")
            }
        }
        if let publishesAcceptedPerSecond {
            lines.append("ingest: \(fmt(publishesAcceptedPerSecond, 0)) publishes accepted/s, \(publishErrors) errors")
        }
        if serverRSSBefore != nil || serverRSSAfter != nil {
            lines.append(
                "server RSS: \(serverRSSBefore.map(String.init) ?? "-") KiB -> \(serverRSSAfter.map(String.init) ?? "-") KiB"
                    + (rssPerConnectionKiB.map { ", \(fmt($0, 2)) KiB per connection" } ?? "")
            )
        }
        if serverCPUPercent != nil || clientCPUPercent != nil {
            lines.append(
                "cpu: server \(serverCPUPercent.map { fmt($0, 0) } ?? "-")%, client \(clientCPUPercent.map { fmt($0, 0) } ?? "-")%"
                    + (clientBound == true ? " (client-bound)" : "")
            )
        }
        if errors + publishErrors > 0 || connectErrors > 0 {
            lines.append("errors: \(connectErrors) connect, \(errors) subscriber, \(publishErrors) publisher")
            for sample in errorSamples.prefix(5) { lines.append("  " + sample) }
        }
        lines.append(ok ? "ok" : "NOT OK")
        return lines.joined(separator: "\n")
    }

    private func pad(_ text: String, _ width: Int) -> String {
        text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count)
    }

    private func fmt(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let rounded = (value * scale).rounded() / scale
        if decimals == 0 { return String(Int(rounded)) }
        return String(rounded)
    }
}
