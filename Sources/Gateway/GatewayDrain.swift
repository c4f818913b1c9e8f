import Fallback
import Hub
import Logging
import NIOCore

/// The graceful drain of a running gateway (issue 10): stop accepting, tell every client to
/// go, wait for them to leave, close the rest at the deadline.
///
/// In order:
/// 1. `/readyz` answers 503 `{"status":"draining"}`; publishes that expect an answer (HTTP
///    202, STOMP RECEIPT) are refused from here on (`Hub.beginShutdown`); new SockJS sessions
///    and WebSocket upgrades get 503.
/// 2. The listeners close: new connections are refused.
/// 3. Every STOMP session gets ERROR `server shutting down` after what was queued for it, then
///    its transport's goodbye (`Hub.terminate`: WebSocket close 1001, SockJS
///    `c[3000,"Go away!"]`, TCP close after the ERROR).
/// 4. SockJS sessions without STOMP get `c[3000,"Go away!"]`; other WebSockets (the echo
///    endpoint) get close 1001.
/// 5. HTTP connections keep serving until every SockJS session has handed its close frame to
///    a poll (or its client left); then they close once idle.
/// 6. When every connection has closed, or at the deadline, what is left is closed.
struct GatewayDrain {
    let hub: Hub
    let readiness: Readiness
    let listeners: [Channel]
    let sockJS: [SockJSService]
    let connections: ConnectionTracker
    let loop: EventLoop
    let logger: Logger

    /// How often the drain looks whether clients have left (it ends as soon as they have).
    static let checkInterval: TimeAmount = .milliseconds(10)

    /// Runs the drain; `timeout` bounds the wait for clients to leave (0: close at once).
    func run(timeout: TimeAmount) async -> GatewayDrainReport {
        let start = NIODeadline.now()
        let deadline = start + timeout
        readiness.set(.draining)
        hub.beginShutdown()
        logger.info(
            "drain: started",
            metadata: ["timeout_ms": "\(timeout.nanoseconds / 1_000_000)", "connections": "\(connections.count)"]
        )
        for listener in listeners { try? await listener.close() }
        var told = (try? await hub.terminate(matching: { _ in true }, with: .serverShuttingDown, on: loop).get()) ?? 0
        for service in sockJS {
            told += (try? await service.registry.goAway(on: loop).get()) ?? 0
        }
        connections.quiesce(http: false)
        // Polling SockJS clients fetch their close frame with their next poll, over the
        // connection they already have: HTTP connections stay until every close frame is out.
        await wait(until: deadline) { await self.farewellsOwed() == 0 }
        connections.quiesce(http: true)
        await wait(until: deadline) { self.connections.count == 0 }
        let forced = connections.closeAll()
        let report = GatewayDrainReport(told: told, forced: forced, elapsedMilliseconds: (NIODeadline.now() - start).nanoseconds / 1_000_000)
        logger.info(
            "drain: finished",
            metadata: ["told": "\(report.told)", "still_open": "\(report.forced)", "elapsed_ms": "\(report.elapsedMilliseconds)"]
        )
        return report
    }

    /// SockJS sessions that still owe their client a close frame.
    private func farewellsOwed() async -> Int {
        var total = 0
        for service in sockJS {
            total += (try? await service.registry.awaitingFarewell(on: loop).get()) ?? 0
        }
        return total
    }

    /// Returns once `condition` holds or `deadline` passed, looking every `checkInterval`.
    private func wait(until deadline: NIODeadline, _ condition: () async -> Bool) async {
        while await !condition() {
            // Cancelled (a second signal, a service group giving up): close what is left now.
            guard !Task.isCancelled else { return }
            let left = deadline - .now()
            guard left > .zero else { return }
            let pause = min(left, Self.checkInterval)
            try? await Task.sleep(nanoseconds: UInt64(pause.nanoseconds))
        }
    }
}
