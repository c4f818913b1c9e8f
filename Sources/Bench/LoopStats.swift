import NIOCore

/// The receive statistics of the connections on one event loop.
///
/// `@unchecked Sendable`: every access happens on `loop` — handlers on that loop mutate it, and
/// readers go through `snapshot(reset:)`, which hops onto the loop — so no two threads touch it.
package final class LoopStats: @unchecked Sendable {
    package let loop: EventLoop
    package var data = ReceiveSnapshot()

    package init(loop: EventLoop) {
        self.loop = loop
    }

    /// Copies the counters on the loop, optionally clearing the per-step ones.
    package func snapshot(resetStep: Bool) -> EventLoopFuture<ReceiveSnapshot> {
        loop.submit {
            let copy = self.data
            if resetStep { self.data.resetStep() }
            return copy
        }
    }

    /// Checks one received body against its subscriber's sequence state.
    @inline(__always)
    func observe(_ fields: MessageBody.Fields, tracker: inout SequenceTracker, now: UInt64) {
        guard fields.publisher < tracker.last.count else {
            if !tracker.warmed {
                tracker.warmed = true
                data.warmed += 1
            }
            return
        }
        let last = tracker.last[fields.publisher]
        if fields.sequence > last {
            if fields.sequence > last + 1 { data.gaps += fields.sequence - last - 1 }
            tracker.last[fields.publisher] = fields.sequence
            data.delivered += 1
            let micros = now > fields.timestamp ? (now - fields.timestamp) / 1000 : 0
            _ = data.latency.record(micros)
        } else if fields.sequence == last {
            data.duplicates += 1
        } else {
            data.reordered += 1
        }
    }
}

/// Per-subscriber sequence state: the last sequence number seen from each publisher.
struct SequenceTracker {
    var last: [UInt64]
    var warmed = false

    init(publishers: Int) {
        last = Array(repeating: 0, count: publishers)
    }
}
