import NIOCore

/// One event loop's part of the hub: the subscriptions of the sessions on that loop, and the
/// queues this shard owns. Used only on its loop.
public final class HubShard {
    struct SubscriptionKey: Hashable {
        var connection: UInt64
        var subscription: String
    }

    private struct OwnedQueue {
        var messages: [HubMessage] = []
        var consumers: [QueueConsumer] = []
        var next = 0
        /// Delivered to acknowledging consumers and not yet settled. A message handed to an
        /// auto-acknowledging consumer has left the queue: that connection's output bound
        /// (`maxOutboundBytes`) covers it, and counting it until a settle hop came back would
        /// refuse bursts that a consumer is keeping up with.
        var inFlight = 0
        /// How many messages at the front of `messages` were taken back (NACKed, or returned
        /// by a consumer that left): later ones go after them, so that order is kept.
        var returnedAtFront = 0

        /// What counts against `maxQueuedMessages`.
        var held: Int { messages.count + inFlight }
        var isUnused: Bool { consumers.isEmpty && messages.isEmpty && inFlight == 0 }
    }

    let index: Int
    private var configuration: HubConfiguration
    private let loop: EventLoop
    private let interest: HubInterest
    private let messageIDPrefix: String
    private var router = TopicRouter<SubscriptionKey>()
    private var connections: [UInt64: StompConnection] = [:]
    private var queues: [String: OwnedQueue] = [:]
    private var nextConnectionID: UInt64 = 0
    private var nextMessageSequence: UInt64 = 0
    /// Connections with frames written since the last flush; flushed together once per
    /// event-loop tick (or after `HubConfiguration.writeCoalescingMicroseconds`).
    private var unflushed: [StompConnection] = []
    private var spare: [StompConnection] = []
    private var flushScheduled = false
    /// Counters by transport name (a handful), and the shard's own (`Hub.statistics`).
    private var transportCounters: [String: TransportCounters] = [:]
    private var errorCounts: [String: UInt64] = [:]
    private var limitCounts: [String: UInt64] = [:]
    private var slowConsumerDrops: UInt64 = 0
    private var deliveries: UInt64 = 0
    /// Publish-to-fan-out latency of the messages this shard delivered, one sample each.
    private var publishToWrite = LatencyHistogram()
    /// The topics this shard owns: their order, history and presence (`TopicTable`).
    private let topics: TopicTable
    private let shardCount: Int
    private var sweepScheduled = false
    /// Resumes answered to sessions of this shard, by outcome (`Hub.statistics`).
    private var resumesRecovered: UInt64 = 0
    private var resumesNotRecovered: UInt64 = 0

    /// Counts a resume's outcome (`StompConnection`, on this shard's loop).
    func recordResume(recovered: Bool) {
        if recovered { resumesRecovered &+= 1 } else { resumesNotRecovered &+= 1 }
    }

    init(index: Int, loop: EventLoop, interest: HubInterest, messageIDPrefix: String, configuration: HubConfiguration, shardCount: Int) {
        self.index = index
        self.loop = loop
        self.interest = interest
        self.messageIDPrefix = messageIDPrefix
        self.configuration = configuration
        self.shardCount = shardCount
        self.topics = TopicTable(configuration: configuration, shardCount: shardCount)
    }

    /// Takes the hub's new settings (`Hub.reconfigure`); on the shard's loop.
    func reconfigure(_ configuration: HubConfiguration) {
        self.configuration = configuration
        topics.reconfigure(configuration, shardCount: shardCount, now: loop.now)
    }

    // MARK: Topics owned here (ordering point, history, presence)

    /// Numbers a message published to a topic this shard owns, retains it when its policy
    /// keeps history, and fans it out to the shards with interest (read now, after numbering:
    /// see `TopicTable`). A message for a topic that nobody subscribes to and that keeps no
    /// history goes nowhere and is not numbered. With `wait`, the future (on this loop) gives
    /// how many subscriptions received it.
    func sequence(_ message: HubMessage, hub: Hub, wait: Bool) -> EventLoopFuture<Int>? {
        let mask = hub.interestMask(for: message.destination)
        let now = loop.now
        let log: TopicLog
        if let existing = topics.existing(message.destination) {
            log = existing
        } else {
            guard mask != 0 || topics.policy(for: message.destination).history > 0 else {
                return wait ? loop.makeSucceededFuture(0) : nil
            }
            log = topics.log(for: message.destination, now: now)
            scheduleSweep(hub: hub)
        }
        var numbered = message
        topics.append(&numbered, to: log, now: now)
        return hub.fanOut(numbered, from: index, mask: mask, wait: wait)
    }

    /// Whether `destination` keeps history under this shard's settings (any shard may ask for
    /// any topic: the settings are the hub's, copied to each shard).
    func mayKeepHistory(of destination: Destination) -> Bool {
        configuration.channelPolicy(destination).history > 0
    }

    /// Answers a new subscription's replay, or a history read.
    ///
    /// A topic that keeps history gets its state now when it has none (`create`: a new
    /// subscription, whose RECEIPT names the epoch its messages will carry); one that keeps no
    /// history is only read, so that reading arbitrary topics creates nothing. Without state
    /// the head is `epoch` "" (no position yet).
    func replay(_ destination: Destination, _ request: ReplayRequest, limit: Int, maxBytes: Int, create: Bool, hub: Hub) -> HistoryPage {
        let now = loop.now
        let log: TopicLog
        if let existing = topics.existing(destination) {
            log = existing
        } else if create, topics.policy(for: destination).history > 0 {
            log = topics.log(for: destination, now: now)
            scheduleSweep(hub: hub)
        } else {
            return HistoryPage(head: TopicPosition(epoch: "", offset: 0), recovered: request.since == .none, messages: [], truncated: false)
        }
        return topics.read(log, since: request.since, last: request.last, limit: limit, maxBytes: maxBytes, now: now)
    }

    /// Applies a presence join or leave and sends the event to subscribers that asked
    /// (`perigee-presence:true`) when it is a user's first join or last leave.
    func presenceChanged(_ destination: Destination, _ key: PresenceSet.Key, user: String?, data: String?, joined: Bool, hub: Hub) {
        let now = loop.now
        let log: TopicLog
        if let existing = topics.existing(destination) {
            log = existing
        } else {
            guard joined, topics.policy(for: destination).presence else { return }
            log = topics.log(for: destination, now: now)
            scheduleSweep(hub: hub)
        }
        guard let change = topics.presenceChanged(log, key, user: user, data: data, joined: joined, now: now), log.policy.joinLeave else { return }
        var headers: StompHeaders = [PerigeeHeader.event: joined ? "join" : "leave"]
        headers.add("content-type", "application/json")
        let body = "{\"user\":\(JSONText.quoted(change.user)),\"data\":\(change.data ?? "null")}"
        var event = HubMessage(id: nextMessageID(), destination: destination, headers: headers, body: ByteBuffer(string: body), publishedAt: now)
        event.presenceEvent = joined ? .join : .leave
        _ = hub.fanOut(event, from: index, mask: hub.interestMask(for: destination), wait: false)
    }

    func presenceSnapshot(of destination: Destination) -> PresenceSnapshot? {
        guard topics.policy(for: destination).presence else { return nil }
        return topics.existing(destination)?.presence.snapshot ?? PresenceSnapshot(members: [], anonymous: 0)
    }

    /// Bytes of history and presence this shard holds (for tests and metrics).
    var historyBytes: Int { topics.bytes }

    /// Topics this shard keeps state for (for tests).
    var topicCount: Int { topics.topicCount }

    private weak var sweepHub: Hub?

    /// Sweeps owned topics every `TopicTable.sweepInterval` while there are any.
    private func scheduleSweep(hub: Hub?) {
        if let hub { sweepHub = hub }
        guard !sweepScheduled else { return }
        sweepScheduled = true
        loop.assumeIsolated().scheduleTask(in: TopicTable.sweepInterval) { self.sweep() }
    }

    private func sweep() {
        sweepScheduled = false
        let hub = sweepHub
        topics.sweep(now: loop.now) { hub?.hasExactSubscribers($0) ?? false }
        if !topics.isEmpty { scheduleSweep(hub: nil) }
    }

    /// A message id unique in the process (the shard's index in it), without a lock.
    func nextMessageID() -> String {
        nextMessageSequence += 1
        return "\(messageIDPrefix)-\(index)-\(nextMessageSequence)"
    }

    // MARK: Write coalescing

    /// Flushes `connection` with every other connection written to in this tick: frames
    /// queued for a connection leave in one write, never one flush per delivery. The caller
    /// asks once per connection until `StompConnection.flushCoalesced` runs.
    func scheduleFlush(_ connection: StompConnection) {
        unflushed.append(connection)
        guard !flushScheduled else { return }
        flushScheduled = true
        let delay = configuration.writeCoalescingMicroseconds
        if delay > 0 {
            loop.assumeIsolated().scheduleTask(in: .microseconds(Int64(delay))) { self.flushAll() }
        } else {
            // Runs after the tasks already queued on this loop: publishes hopping here in the
            // same tick share the write.
            loop.assumeIsolated().execute { self.flushAll() }
        }
    }

    private func flushAll() {
        flushScheduled = false
        swap(&unflushed, &spare)
        for connection in spare { connection.flushCoalesced() }
        spare.removeAll(keepingCapacity: spare.count <= 4_096)
    }

    // MARK: Sessions

    /// A connection id unique in the hub (the shard's index in the top bits).
    func allocateConnectionID() -> UInt64 {
        nextConnectionID += 1
        return UInt64(index) << 48 | nextConnectionID
    }

    func register(_ connection: StompConnection, id: UInt64) {
        connections[id] = connection
    }

    var sessionCount: Int { connections.count }

    // MARK: Statistics and operators

    /// The counters of connections over `transport` on this shard.
    func counters(for transport: String) -> TransportCounters {
        if let existing = transportCounters[transport] { return existing }
        let created = TransportCounters()
        transportCounters[transport] = created
        return created
    }

    /// Counts an ERROR frame sent by a session of this shard.
    func record(_ error: StompError) {
        errorCounts[error.message, default: 0] &+= 1
        if let limit = error.limit { limitCounts[limit, default: 0] &+= 1 }
        if error == .slowConsumer { slowConsumerDrops &+= 1 }
    }

    /// Counts a limit a transport enforced (`StompConnection.transportFailed`).
    func recordTransportFailure(limit: String?) {
        if let limit { limitCounts[limit, default: 0] &+= 1 }
    }

    /// This shard's part of `Hub.statistics`.
    func statistics() -> HubStatistics {
        var result = HubStatistics()
        for (name, counters) in transportCounters {
            var transport = HubStatistics.Transport()
            transport.opened = counters.opened
            transport.open = counters.open
            transport.traffic = counters.traffic
            result.transports[name] = transport
        }
        for connection in connections.values {
            if let kind = connection.connectedKind { result.sessionsByKind[kind, default: 0] += 1 }
        }
        result.subscriptions = router.counts.values.reduce(0, +) + queues.values.reduce(0) { $0 + $1.consumers.count }
        result.errors = errorCounts
        result.limits = limitCounts
        result.slowConsumerDrops = slowConsumerDrops
        result.deliveries = deliveries
        result.publishToWrite = publishToWrite
        result.topics = topics.topicCount
        result.historyBytes = topics.bytes
        result.resumesRecovered = resumesRecovered
        result.resumesNotRecovered = resumesNotRecovered
        return result
    }

    /// The sessions of this shard, as the admin API lists them.
    func sessions() -> [StompSessionSnapshot] {
        let now = loop.now
        return connections.values.map { $0.snapshot(now: now) }
    }

    /// Ends with ERROR `error` every session whose snapshot `matches`; returns how many.
    func terminate(matching matches: (StompSessionSnapshot) -> Bool, with error: StompError) -> Int {
        let now = loop.now
        let chosen = connections.values.filter { matches($0.snapshot(now: now)) }
        for connection in chosen { connection.terminate(error) }
        return chosen.count
    }

    /// Ends session `id`'s subscriptions to `destination`; nil when the session is not here.
    func revoke(session id: String, destination: String) -> Int? {
        guard let connection = connections.values.first(where: { $0.sessionName == id }) else { return nil }
        return connection.revoke(destination: destination)
    }

    func unregister(_ id: UInt64) {
        connections[id] = nil
    }

    func addTopicSubscription(connection: UInt64, id: String, destination: Destination) {
        let key = SubscriptionKey(connection: connection, subscription: id)
        let previous = router.destination(of: key)
        let wasInterested = isInterested(in: destination)
        router.add(key, for: destination)
        if let previous, previous != destination { advertiseInterest(in: previous) }
        if !wasInterested { advertiseInterest(in: destination) }
    }

    func removeTopicSubscription(connection: UInt64, id: String) {
        let key = SubscriptionKey(connection: connection, subscription: id)
        guard let destination = router.destination(of: key) else { return }
        router.remove(key)
        if !isInterested(in: destination) { advertiseInterest(in: destination) }
    }

    private func isInterested(in destination: Destination) -> Bool {
        destination.isPattern ? router.hasPatterns : router.hasSubscriptions(to: destination)
    }

    /// Tells the hub whether this shard wants publishes to `destination` (only on a change,
    /// so the hub's lock is taken per first or last subscription, not per subscription).
    private func advertiseInterest(in destination: Destination) {
        if destination.isPattern {
            interest.set(shard: index, patterns: router.hasPatterns)
        } else {
            interest.set(shard: index, exact: destination, interested: router.hasSubscriptions(to: destination))
        }
    }

    // MARK: Topics

    /// Delivers to every local subscription of the message's topic; returns how many.
    ///
    /// MESSAGE frames are encoded once per distinct (subscription id, version, ack) and the
    /// bytes shared by every session with the same combination.
    func deliverTopic(_ message: HubMessage) -> Int {
        guard !router.isEmpty else { return 0 }
        var encoded: [StompConnection.EncodingKey: StompConnection.EncodedMessage] = [:]
        var permissions: [Principal: Bool] = [:]
        var delivered = 0
        for key in router.subscribers(of: message.destination) {
            guard let connection = connections[key.connection] else { continue }
            if connection.deliver(message, subscription: key.subscription, cache: &encoded, permissions: &permissions) { delivered += 1 }
        }
        deliveries &+= UInt64(delivered)
        // One sample per message and shard, never per subscriber: one clock read.
        if delivered > 0 {
            publishToWrite.record(nanoseconds: (loop.now - message.publishedAt).nanoseconds)
        }
        return delivered
    }

    func destinationCounts() -> [String: Int] {
        var result: [String: Int] = [:]
        for (destination, count) in router.counts { result[destination.description, default: 0] += count }
        for (name, queue) in queues where !queue.consumers.isEmpty {
            result["/queue/\(name)", default: 0] += queue.consumers.count
        }
        return result
    }

    // MARK: Queues (on the owner shard)

    func queueDepth(_ name: String) -> Hub.QueueDepth? {
        queues[name].map { Hub.QueueDepth(waiting: $0.messages.count, inFlight: $0.inFlight) }
    }

    func enqueue(_ message: HubMessage, hub: Hub) -> EventLoopFuture<Hub.PublishResult> {
        let loop = hub.loop(of: index)
        let name = message.destination.name
        var queue: OwnedQueue
        if let existing = queues[name] {
            queue = existing
        } else {
            guard hub.reserveQueue() else { return loop.makeFailedFuture(Hub.PublishError.tooManyQueues(limit: configuration.maxQueues)) }
            queue = OwnedQueue()
        }
        guard queue.held < configuration.maxQueuedMessages else {
            if queues[name] == nil { hub.releaseQueue() }  // reserved above for nothing
            return loop.makeFailedFuture(Hub.PublishError.queueFull(message.destination.description))
        }
        guard queue.consumers.isEmpty else {
            let consumer = queue.consumers[queue.next % queue.consumers.count]
            queue.next = (queue.next + 1) % queue.consumers.count
            if consumer.needsAck { queue.inFlight += 1 }
            queues[name] = queue
            dispatch(message, to: consumer, hub: hub)
            return loop.makeSucceededFuture(.init(delivered: 1, queued: false))
        }
        queue.messages.append(message)
        queues[name] = queue
        return loop.makeSucceededFuture(.init(delivered: 0, queued: true))
    }

    /// Puts messages back at the front of their queue (a NACK, or a consumer gone before it
    /// acknowledged, or a delivery that found its consumer gone), after the ones taken back
    /// before them, then hands them out again. They were counted against the queue's limit
    /// all along (waiting or in flight), so taking them back never overflows it.
    ///
    /// - Parameters:
    ///   - avoiding: the consumer that refused them (NACK); another one gets them first when
    ///     there is one.
    ///   - wasInFlight: whether they were counted as in flight (delivered to an acknowledging
    ///     consumer).
    func requeue(_ messages: [HubMessage], avoiding: QueueConsumer? = nil, wasInFlight: Bool, hub: Hub) {
        guard let name = messages.first?.destination.name else { return }
        // The queue may have been forgotten meanwhile; messages taken back are never dropped.
        var queue = existingOrNewQueue(name, hub: hub)
        if wasInFlight { queue.inFlight = max(0, queue.inFlight - messages.count) }
        let position = min(queue.returnedAtFront, queue.messages.count)
        queue.messages.insert(contentsOf: messages, at: position)
        queue.returnedAtFront = position + messages.count
        if let avoiding, queue.consumers.count > 1, queue.consumers[queue.next % queue.consumers.count] == avoiding {
            queue.next = (queue.next + 1) % queue.consumers.count
        }
        queues[name] = queue
        drain(name, hub: hub)
    }

    /// Acknowledged messages leave the queue's count.
    func settle(queue name: String, count: Int, hub: Hub) {
        guard var queue = queues[name] else { return }
        queue.inFlight = max(0, queue.inFlight - count)
        store(queue, name, hub: hub)
    }

    func addQueueConsumer(_ consumer: QueueConsumer, queue name: String, hub: Hub) {
        // Consumers are bounded by the subscription limits; they always get their queue.
        var queue = existingOrNewQueue(name, hub: hub)
        queue.consumers.append(consumer)
        queues[name] = queue
        drain(name, hub: hub)
    }

    func removeQueueConsumer(_ consumer: QueueConsumer, queue name: String, hub: Hub) {
        guard var queue = queues[name] else { return }
        queue.consumers.removeAll { $0 == consumer }
        queue.next = queue.consumers.isEmpty ? 0 : queue.next % queue.consumers.count
        store(queue, name, hub: hub)
    }

    /// The queue named `name`, or a new one that takes a place even past `maxQueues`.
    private func existingOrNewQueue(_ name: String, hub: Hub) -> OwnedQueue {
        if let existing = queues[name] { return existing }
        hub.forceReserveQueue()
        return OwnedQueue()
    }

    /// Saves a queue, or forgets it (and frees its place) once nothing refers to it.
    private func store(_ queue: OwnedQueue, _ name: String, hub: Hub) {
        if queue.isUnused {
            if queues.removeValue(forKey: name) != nil { hub.releaseQueue() }
        } else {
            queues[name] = queue
        }
    }

    private func drain(_ name: String, hub: Hub) {
        guard var queue = queues[name], !queue.consumers.isEmpty, !queue.messages.isEmpty else { return }
        let messages = queue.messages
        queue.messages = []
        queue.returnedAtFront = 0
        var assignments: [(HubMessage, QueueConsumer)] = []
        for message in messages {
            let consumer = queue.consumers[queue.next % queue.consumers.count]
            assignments.append((message, consumer))
            if consumer.needsAck { queue.inFlight += 1 }
            queue.next = (queue.next + 1) % queue.consumers.count
        }
        queues[name] = queue
        for (message, consumer) in assignments { dispatch(message, to: consumer, hub: hub) }
    }

    /// Hands a queue message to a consumer on its shard; if the consumer has gone meanwhile,
    /// the message comes back to this owner and is queued again, so nothing is lost.
    private func dispatch(_ message: HubMessage, to consumer: QueueConsumer, hub: Hub) {
        let owner = index
        let target = hub.shards[consumer.shard]
        hub.loop(of: consumer.shard).execute {
            let shard = target.value
            if let connection = shard.connections[consumer.connection],
                connection.deliverQueued(message, subscription: consumer.subscription, generation: consumer.generation)
            {
                return
            }
            hub.loop(of: owner).execute {
                let ownerShard = hub.shards[owner].value
                ownerShard.removeQueueConsumer(consumer, queue: message.destination.name, hub: hub)
                ownerShard.requeue([message], wasInFlight: consumer.needsAck, hub: hub)
            }
        }
    }
}

@available(*, unavailable)
extension HubShard: Sendable {}
