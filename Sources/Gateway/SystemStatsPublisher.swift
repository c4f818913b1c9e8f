import Foundation
import Hub
import NIOCore

/// Publishes `Hub.statistics` as JSON to `/topic/$sys.stats` (`SystemTopics.stats`) every
/// `interval`, on one event loop, for the status page (`web/status.html`).
///
/// It does nothing while no shard may deliver the topic (`Hub.mayHaveSubscribers`): no
/// shard is asked for its counters then. Counters are cumulative since start, so a
/// subscriber computes rates from two snapshots and a lost message costs nothing.
final class SystemStatsPublisher: Sendable {
    private let task: RepeatedTask

    /// - Parameters:
    ///   - interval: between two snapshots (the configuration's `statsInterval`, 1 s).
    ///   - loop: a loop of `hub`'s group; the timer and every publish run on it.
    init(hub: Hub, interval: TimeAmount, on loop: EventLoop) {
        task = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            Self.publishIfWatched(hub: hub, on: loop)
        }
    }

    func cancel() {
        task.cancel()
    }

    /// One tick: a snapshot published when someone may be listening. Must run on `loop`.
    static func publishIfWatched(hub: Hub, on loop: EventLoop) {
        guard hub.mayHaveSubscribers(to: SystemTopics.stats) else { return }
        hub.statistics(on: loop).whenSuccess { statistics in
            let milliseconds = Int((Date().timeIntervalSince1970 * 1_000).rounded())
            let text = Self.json(statistics, unixMilliseconds: milliseconds).encoded
            let message = HubMessage(
                id: hub.nextMessageID(on: loop),
                destination: SystemTopics.stats,
                headers: ["content-type": "application/json"],
                body: ByteBuffer(string: text)
            )
            hub.post(topicMessage: message, on: loop)
        }
    }

    /// The message body: `t` (Unix time, milliseconds), `transports` (by name: `open`,
    /// `opened`, `messages_in`, `messages_out`, `bytes_in`, `bytes_out`), `sessions` (by
    /// principal kind), `subscriptions`, `slow_consumer_drops`, `errors` (ERROR frames by
    /// message), `limits` (by limit name) and `deliveries`. Every counter counts since start.
    static func json(_ statistics: HubStatistics, unixMilliseconds: Int) -> JSONValue {
        func number(_ value: UInt64) -> JSONValue { .number(Int(clamping: value)) }
        func counts(_ values: [String: UInt64]) -> JSONValue {
            .object(values.sorted { $0.key < $1.key }.map { ($0.key, number($0.value)) })
        }
        let transports = statistics.transports.sorted { $0.key < $1.key }.map { name, transport in
            (name, JSONValue.object([
                ("open", .number(transport.open)),
                ("opened", number(transport.opened)),
                ("messages_in", number(transport.traffic.messagesIn)),
                ("messages_out", number(transport.traffic.messagesOut)),
                ("bytes_in", number(transport.traffic.bytesIn)),
                ("bytes_out", number(transport.traffic.bytesOut)),
            ]))
        }
        let members: [(String, JSONValue)] = [
            ("t", .number(unixMilliseconds)),
            ("transports", .object(transports)),
            ("sessions", .object(statistics.sessionsByKind.sorted { $0.key < $1.key }.map { ($0.key, JSONValue.number($0.value)) })),
            ("subscriptions", .number(statistics.subscriptions)),
            ("slow_consumer_drops", number(statistics.slowConsumerDrops)),
            ("errors", counts(statistics.errors)),
            ("limits", counts(statistics.limits)),
            ("deliveries", number(statistics.deliveries)),
        ]
        return .object(members)
    }
}
