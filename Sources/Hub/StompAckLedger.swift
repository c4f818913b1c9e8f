/// The messages a session delivered and the client has not yet acknowledged (STOMP 1.2 "ACK"
/// and "NACK"), for `client` (cumulative) and `client-individual` subscriptions.
///
/// Lookup by ack id is O(1); a cumulative ACK settles every earlier message of its
/// subscription in time proportional to what it settles. Each subscription keeps its delivery
/// order as a list that is compacted when most of it is settled, so memory stays proportional
/// to what is unacknowledged. The caller enforces the limits with `count(of:)` and `bytes`.
struct StompAckLedger {
    struct Entry {
        var ackID: String
        var subscription: String
        var message: HubMessage
        var fromQueue: Bool
        fileprivate var sequence: UInt64
    }

    private struct Order {
        var ids: [(ackID: String, sequence: UInt64)] = []
        var head = 0
        var live = 0
    }

    private var entries: [String: Entry] = [:]
    private var orders: [String: Order] = [:]
    private var nextSequence: UInt64 = 0
    /// Body bytes held, across all subscriptions.
    private(set) var bytes = 0

    var isEmpty: Bool { entries.isEmpty }

    /// Unacknowledged messages of one subscription.
    func count(of subscription: String) -> Int { orders[subscription]?.live ?? 0 }

    func contains(_ ackID: String) -> Bool { entries[ackID] != nil }

    func entry(_ ackID: String) -> Entry? { entries[ackID] }

    /// Records a delivery awaiting acknowledgement. A message delivered again under the same ack
    /// id (a requeued queue message) replaces the earlier record.
    mutating func add(ackID: String, subscription: String, message: HubMessage, fromQueue: Bool) {
        if entries[ackID] != nil { _ = removeOne(ackID) }
        nextSequence += 1
        entries[ackID] = Entry(ackID: ackID, subscription: subscription, message: message, fromQueue: fromQueue, sequence: nextSequence)
        bytes += message.body.readableBytes
        orders[subscription, default: Order()].ids.append((ackID, nextSequence))
        orders[subscription, default: Order()].live += 1
    }

    /// Settles one message (`client-individual`, or any NACK in 1.2's individual sense).
    mutating func settle(_ ackID: String) -> [Entry] {
        guard let entry = removeOne(ackID) else { return [] }
        return [entry]
    }

    /// Settles `ackID` and every message delivered before it on the same subscription
    /// (`client` mode, STOMP 1.2 "SUBSCRIBE ack Header").
    mutating func settleCumulatively(_ ackID: String) -> [Entry] {
        guard let target = entries[ackID], var order = orders[target.subscription] else { return [] }
        var settled: [Entry] = []
        while order.head < order.ids.count, order.ids[order.head].sequence <= target.sequence {
            let (id, sequence) = order.ids[order.head]
            order.head += 1
            if let entry = entries[id], entry.sequence == sequence {
                entries[id] = nil
                bytes -= entry.message.body.readableBytes
                order.live -= 1
                settled.append(entry)
            }
        }
        store(order, for: target.subscription)
        return settled
    }

    /// Forgets every message of a subscription (it ended) and returns them.
    mutating func removeAll(of subscription: String) -> [Entry] {
        guard let order = orders.removeValue(forKey: subscription) else { return [] }
        var removed: [Entry] = []
        for (id, sequence) in order.ids[order.head...] {
            if let entry = entries[id], entry.sequence == sequence {
                entries[id] = nil
                bytes -= entry.message.body.readableBytes
                removed.append(entry)
            }
        }
        return removed
    }

    private mutating func removeOne(_ ackID: String) -> Entry? {
        guard let entry = entries.removeValue(forKey: ackID) else { return nil }
        bytes -= entry.message.body.readableBytes
        if var order = orders[entry.subscription] {
            order.live -= 1
            store(order, for: entry.subscription)
        }
        return entry
    }

    /// Keeps an order list no larger than about twice what it still refers to.
    private mutating func store(_ order: Order, for subscription: String) {
        var order = order
        if order.live == 0 {
            orders[subscription] = nil
            return
        }
        if order.ids.count - order.head > 2 * order.live + 16 {
            order.ids = order.ids[order.head...].filter { entries[$0.ackID]?.sequence == $0.sequence }
            order.head = 0
        } else if order.head > 64, order.head * 2 > order.ids.count {
            order.ids.removeFirst(order.head)
            order.head = 0
        }
        orders[subscription] = order
    }
}
