/// One transport's counters on one shard: plain integers that only that shard's event loop
/// touches, so counting costs no atomic operation on the delivery path. `Hub.statistics`
/// reads them on each loop and adds them up.
final class TransportCounters {
    /// Connections opened since start, and open now.
    @exclusivity(unchecked) var opened: UInt64 = 0
    @exclusivity(unchecked) var open: Int = 0
    @exclusivity(unchecked) var traffic = StompTraffic()
}

@available(*, unavailable)
extension TransportCounters: Sendable {}
