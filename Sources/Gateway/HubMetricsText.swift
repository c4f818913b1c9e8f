import Hub

/// Renders `HubStatistics` in the Prometheus text exposition format 0.0.4: one `# HELP` and
/// `# TYPE` line per family, then its samples. Label values are the hub's fixed names
/// (transports, principal kinds, ERROR messages, limits), escaped anyway; a destination
/// never becomes a label (unbounded cardinality).
struct HubMetricsText {
    private(set) var output = ""

    init() {
        output.reserveCapacity(4096)
    }

    mutating func add(_ statistics: HubStatistics) {
        let transports = statistics.transports.sorted { $0.key < $1.key }
        family("perigee_connections_open", "gauge", "STOMP connections open now, by transport.")
        for (name, transport) in transports { sample("perigee_connections_open", [("transport", name)], "\(transport.open)") }
        family("perigee_connections_opened_total", "counter", "STOMP connections opened since start, by transport.")
        for (name, transport) in transports { sample("perigee_connections_opened_total", [("transport", name)], "\(transport.opened)") }
        let traffic: [(String, String, KeyPath<StompTraffic, UInt64>)] = [
            ("perigee_messages_received_total", "SEND frames accepted from clients, by transport.", \.messagesIn),
            ("perigee_messages_sent_total", "MESSAGE frames written to clients, by transport.", \.messagesOut),
            ("perigee_received_bytes_total", "STOMP bytes received from clients (without transport framing), by transport.", \.bytesIn),
            ("perigee_sent_bytes_total", "STOMP bytes written to clients (before compression and transport framing), by transport.", \.bytesOut),
        ]
        for (name, help, path) in traffic {
            family(name, "counter", help)
            for (transport, counters) in transports { sample(name, [("transport", transport)], "\(counters.traffic[keyPath: path])") }
        }
        family("perigee_sessions", "gauge", "STOMP sessions past CONNECT, by principal kind.")
        for (kind, count) in statistics.sessionsByKind.sorted(by: { $0.key < $1.key }) { sample("perigee_sessions", [("kind", kind)], "\(count)") }
        gauge("perigee_subscriptions", help: "Topic subscriptions and queue consumers held now.", value: statistics.subscriptions)
        family("perigee_stomp_errors_total", "counter", "STOMP ERROR frames sent, by message header.")
        for (message, count) in statistics.errors.sorted(by: { $0.key < $1.key }) { sample("perigee_stomp_errors_total", [("message", message)], "\(count)") }
        family("perigee_limit_hits_total", "counter", "Configured limits reached, by limit.")
        for (limit, count) in statistics.limits.sorted(by: { $0.key < $1.key }) { sample("perigee_limit_hits_total", [("limit", limit)], "\(count)") }
        counter("perigee_slow_consumer_drops_total", help: "Sessions dropped because they fell behind (ERROR slow consumer).", value: statistics.slowConsumerDrops)
        counter("perigee_deliveries_total", help: "Topic deliveries: a message handed to one subscription.", value: statistics.deliveries)
        gauge("perigee_topics", help: "Topics whose order, history or presence is kept now.", value: statistics.topics)
        gauge("perigee_history_bytes", help: "Bytes of retained history and presence (bounded by limits.max_history_bytes).", value: statistics.historyBytes)
        family("perigee_resumes_total", "counter", "SUBSCRIBEs with perigee-since answered, by outcome.")
        sample("perigee_resumes_total", [("recovered", "true")], "\(statistics.resumesRecovered)")
        sample("perigee_resumes_total", [("recovered", "false")], "\(statistics.resumesNotRecovered)")
        histogram(
            "perigee_publish_to_write_seconds",
            help: "From a message's publication to its fan-out on one event loop, one sample per message and loop.",
            statistics.publishToWrite
        )
    }

    mutating func counter(_ name: String, help: String, value: UInt64) {
        family(name, "counter", help)
        sample(name, [], "\(value)")
    }

    mutating func gauge(_ name: String, help: String, value: Int) {
        family(name, "gauge", help)
        sample(name, [], "\(value)")
    }

    private mutating func histogram(_ name: String, help: String, _ histogram: LatencyHistogram) {
        family(name, "histogram", help)
        var cumulative: UInt64 = 0
        for (index, bound) in LatencyHistogram.bounds.enumerated() {
            cumulative &+= histogram.counts[index]
            sample(name + "_bucket", [("le", Self.seconds(bound))], "\(cumulative)")
        }
        sample(name + "_bucket", [("le", "+Inf")], "\(histogram.count)")
        sample(name + "_sum", [], Self.seconds(Int64(clamping: histogram.sumNanoseconds)))
        sample(name + "_count", [], "\(histogram.count)")
    }

    /// Nanoseconds as decimal seconds (`0.0001`, `2.5`).
    static func seconds(_ nanoseconds: Int64) -> String {
        "\(Double(nanoseconds) / 1e9)"
    }

    private mutating func family(_ name: String, _ type: String, _ help: String) {
        output += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
    }

    private mutating func sample(_ name: String, _ labels: [(String, String)], _ value: String) {
        output += name
        if !labels.isEmpty {
            output += "{"
            output += labels.map { "\($0.0)=\"\(Self.escaped($0.1))\"" }.joined(separator: ",")
            output += "}"
        }
        output += " \(value)\n"
    }

    /// Text format 0.0.4: a label value escapes backslash, double quote and line feed.
    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var result = ""
        for character in value {
            switch character {
            case "\\": result += "\\\\"
            case "\"": result += "\\\""
            case "\n": result += "\\n"
            default: result.append(character)
            }
        }
        return result
    }
}
