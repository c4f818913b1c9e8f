/// One publish-rate step of a fanout run.
package struct StepResult: Sendable {
    package var offeredRate: Double
    package var publishRate: Double
    package var durationSeconds: Double
    package var expected: UInt64
    package var delivered: UInt64
    package var deliveriesPerSecond: Double
    package var lost: UInt64
    package var reordered: UInt64
    package var duplicates: UInt64
    package var latencyMs: (p50: Double, p90: Double, p99: Double, max: Double)?
    package var serverCPUPercent: Double?
    package var clientCPUPercent: Double?
    package var clientBound: Bool
    package var disconnected: Int
    package var errors: Int
    package var passed: Bool

    package var json: JSONValue {
        let latency: JSONValue =
            latencyMs.map {
                .object([
                    ("p50", .number($0.p50)), ("p90", .number($0.p90)), ("p99", .number($0.p99)), ("max", .number($0.max)),
                ])
            } ?? .null
        return .object([
            ("offered_rate", .number(offeredRate, decimals: 1)),
            ("publish_rate", .number(publishRate, decimals: 1)),
            ("duration_s", .number(durationSeconds)),
            ("expected", .int(Int(expected))),
            ("delivered", .int(Int(delivered))),
            ("deliveries_per_s", .number(deliveriesPerSecond, decimals: 1)),
            ("lost", .int(Int(lost))),
            ("reordered", .int(Int(reordered))),
            ("duplicates", .int(Int(duplicates))),
            ("latency_ms", latency),
            ("server_cpu_pct", .number(serverCPUPercent, decimals: 1)),
            ("client_cpu_pct", .number(clientCPUPercent, decimals: 1)),
            ("client_bound", .bool(clientBound)),
            ("disconnected", .int(disconnected)),
            ("errors", .int(errors)),
            ("passed", .bool(passed)),
        ])
    }
}
