import NIOConcurrencyHelpers
import NIOCore

/// The subscribers of this process, spread over the event loops, with one `LoopStats` per loop.
final class SubscriberPool: Sendable {
    let stats: [LoopStats]
    private let factory: ClientFactory
    private let channels = NIOLockedValueBox<[Channel]>([])

    init(group: EventLoopGroup, factory: ClientFactory) {
        var stats: [LoopStats] = []
        for loop in group.makeIterator() { stats.append(LoopStats(loop: loop)) }
        self.stats = stats
        self.factory = factory
    }

    /// Connects the subscribers numbered `indices`, at most `concurrency` handshakes at once;
    /// failures are counted in the statistics. Returns the seconds it took.
    func connect(indices: [Int], concurrency: Int, deadline: Double) async -> Double {
        let start = MonotonicClock.seconds()
        let remaining = max(1, deadline - start)
        let setupTimeout = TimeAmount.milliseconds(Int64(min(30, remaining) * 1000))
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for index in indices {
                if running >= max(concurrency, 1) {
                    await group.next()
                    running -= 1
                }
                if MonotonicClock.seconds() > deadline { break }
                let loopStats = stats[index % stats.count]
                running += 1
                group.addTask {
                    if let channel = try? await self.factory.subscriber(
                        index: index, loop: loopStats.loop, stats: loopStats, setupTimeout: setupTimeout
                    ).get() {
                        self.channels.withLockedValue { $0.append(channel) }
                    }
                }
            }
        }
        let seconds = MonotonicClock.seconds() - start
        for loopStats in stats {
            _ = try? await loopStats.loop.submit { loopStats.data.connectSeconds = seconds }.get()
        }
        return seconds
    }

    /// The sum over all loops.
    func snapshot(resetStep: Bool) async -> ReceiveSnapshot {
        var total = ReceiveSnapshot()
        for loopStats in stats {
            if let part = try? await loopStats.snapshot(resetStep: resetStep).get() { total.add(part) }
        }
        return total
    }

    func closeAll() async {
        let all = channels.withLockedValue { list -> [Channel] in
            defer { list.removeAll() }
            return list
        }
        for channel in all { channel.close(promise: nil) }
        for channel in all { try? await channel.closeFuture.get() }
    }
}
