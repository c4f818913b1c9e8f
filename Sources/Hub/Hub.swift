import NIOConcurrencyHelpers
import NIOCore

/// The topic hub: one shard per event loop, each owning the subscriptions of the connections
/// that loop serves, so that delivery takes no lock.
///
/// A topic publish hops to the topic's owner shard, which numbers it (`TopicTable`), then once
/// to each shard with subscribers, which fans out there. A queue lives on one
/// owner shard (chosen by hashing its name); the owner holds its messages while nobody
/// subscribes and hands each message to exactly one consumer, round-robin.
public final class Hub: Sendable {
    /// The settings a session takes when it is created (`StompConnection`), and that the
    /// shards apply to queues and flushing. `reconfigure(_:)` replaces them while running.
    public var configuration: HubConfiguration { current.withLockedValue { $0 } }
    private let current: NIOLockedValueBox<HubConfiguration>
    let shards: [NIOLoopBoundBox<HubShard>]
    private let loops: [EventLoop]
    private let interest: HubInterest
    /// For message ids made off the hub's loops (rare): those on a loop come from its shard.
    private let counter = NIOLockedValueBox<UInt64>(0)
    /// Queues in existence across all shards, against `configuration.maxQueues`.
    private let queueCount = NIOLockedValueBox<Int>(0)
    /// Set once by `beginShutdown`; read by publishes that someone waits for.
    private let shutdown = NIOLockedValueBox(false)
    private let prefix: String

    public init(group: EventLoopGroup, configuration: HubConfiguration = .init()) {
        self.current = NIOLockedValueBox(configuration)
        let loops = Array(group.makeIterator())
        self.loops = loops
        let prefix = String(UInt32.random(in: 0...UInt32.max), radix: 36)
        self.prefix = prefix
        let interest = HubInterest(shardCount: loops.count)
        self.interest = interest
        var shards: [NIOLoopBoundBox<HubShard>] = []
        for (index, loop) in loops.enumerated() {
            let shard = HubShard(index: index, loop: loop, interest: interest, messageIDPrefix: prefix, configuration: configuration, shardCount: loops.count)
            shards.append(.makeBoxSendingValue(shard, eventLoop: loop))
        }
        self.shards = shards
    }

    /// Replaces the settings (a configuration reload): sessions created from now on take the
    /// new limits, heart-beats and gatekeeper; sessions already open keep those they were
    /// created with, and none is dropped. Queue limits (`maxQueues`, `maxQueuedMessages`) and
    /// `writeCoalescingMicroseconds` apply hub-wide from the next publish on each loop.
    public func reconfigure(_ configuration: HubConfiguration) {
        current.withLockedValue { $0 = configuration }
        for (index, loop) in loops.enumerated() {
            let shard = shards[index]
            loop.execute { shard.value.reconfigure(configuration) }
        }
    }

    /// A fresh message id, unique in the process. On one of the hub's loops it comes from that
    /// loop's shard without a lock.
    public func nextMessageID(on loop: EventLoop? = nil) -> String {
        if let loop, loop.inEventLoop, let shard = shard(on: loop) { return shard.nextMessageID() }
        let value = counter.withLockedValue { value -> UInt64 in
            value += 1
            return value
        }
        return "\(prefix)-x-\(value)"
    }

    /// The shard of `loop`; must be called on that loop. Nil for a loop outside the hub's group.
    public func shard(on loop: EventLoop) -> HubShard? {
        for (index, candidate) in loops.enumerated() where candidate === loop {
            return shards[index].value
        }
        return nil
    }

    /// The result of a publish: how many subscribers received the message now, and whether a
    /// queue is holding it for a subscriber to come.
    public struct PublishResult: Sendable, Hashable {
        public var delivered: Int
        public var queued: Bool
    }

    /// Errors of a publish.
    public enum PublishError: Error, Sendable, Hashable {
        /// The queue holds `maxQueuedMessages` (waiting plus in flight).
        case queueFull(String)
        /// The message would create a queue beyond `maxQueues`.
        case tooManyQueues(limit: Int)
        /// The server is draining (`beginShutdown`): the message may have reached some
        /// subscribers, but not surely all of them before they were told to go away.
        case shuttingDown
    }

    /// Whether `beginShutdown` was called.
    public var isShuttingDown: Bool { shutdown.withLockedValue { $0 } }

    /// From now on, publishes that someone waits for (a RECEIPT, an HTTP 202) fail with
    /// `PublishError.shuttingDown`, both those that start and those that complete after this
    /// call. Call it before `terminate` during a drain: a publish that succeeds then completed
    /// every shard's delivery before any shard's session was told to go away, so an answered
    /// publisher lost nothing. Publishes without an answer (`post`) still go out.
    public func beginShutdown() {
        shutdown.withLockedValue { $0 = true }
    }

    /// Takes a place for a new queue; false when `maxQueues` exist.
    func reserveQueue() -> Bool {
        let limit = current.withLockedValue { $0.maxQueues }
        return queueCount.withLockedValue { count in
            guard count < limit else { return false }
            count += 1
            return true
        }
    }

    /// Takes a place even past the limit (a consumer's queue, messages taken back).
    func forceReserveQueue() {
        queueCount.withLockedValue { $0 += 1 }
    }

    func releaseQueue() {
        queueCount.withLockedValue { $0 -= 1 }
    }

    /// Queues in existence (for tests and metrics).
    public var queueTotal: Int { queueCount.withLockedValue { $0 } }

    /// Publishes `message`; the future completes on `loop` once every shard has delivered it
    /// (written to each subscriber's transport, ahead of anything written there later).
    ///
    /// A topic message first goes to its owner shard (`topicOwner`, the topic's ordering point:
    /// `TopicTable`), which gives it the topic's next `position`, retains it when the topic keeps
    /// history, and hands it to the shards with subscribers for it (`HubInterest`), once to
    /// each, in offset order; the owner's own subscribers get it at once. A publisher on the
    /// owner's loop takes no hop. Must be called on `loop`.
    /// - Fails: `PublishError.shuttingDown` once `beginShutdown` was called (checked at the
    ///   start and again when every shard has delivered); `queueFull`, `tooManyQueues`.
    public func publish(_ message: HubMessage, on loop: EventLoop) -> EventLoopFuture<PublishResult> {
        guard !isShuttingDown else { return loop.makeFailedFuture(PublishError.shuttingDown) }
        return deliver(message, on: loop).flatMapThrowing { result in
            // Read after every shard delivered: false means no session anywhere had been told
            // to go away yet (`beginShutdown` precedes `terminate`).
            guard !self.isShuttingDown else { throw PublishError.shuttingDown }
            return result
        }
    }

    private func deliver(_ message: HubMessage, on loop: EventLoop) -> EventLoopFuture<PublishResult> {
        switch message.destination.kind {
        case .topic:
            if goesNowhere(message.destination, on: loop) { return loop.makeSucceededFuture(PublishResult(delivered: 0, queued: false)) }
            let owner = topicOwner(message.destination)
            let hub = self
            let delivered: EventLoopFuture<Int>
            if loops[owner] === loop, loop.inEventLoop {
                delivered = shards[owner].value.sequence(message, hub: hub, wait: true) ?? loop.makeSucceededFuture(0)
            } else {
                delivered = loops[owner].flatSubmit {
                    hub.shards[owner].value.sequence(message, hub: hub, wait: true) ?? hub.loops[owner].makeSucceededFuture(0)
                }.hop(to: loop)
            }
            return delivered.map { PublishResult(delivered: $0, queued: false) }
        case .queue:
            let owner = queueOwner(message.destination.name)
            let hub = self
            return loops[owner].flatSubmit {
                hub.shards[owner].value.enqueue(message, hub: hub)
            }.hop(to: loop)
        }
    }

    /// Publishes a topic message whose outcome nobody waits for (a SEND without a receipt):
    /// like `publish`, without futures. Must be called on `loop`, a loop of the hub.
    public func post(topicMessage message: HubMessage, on loop: EventLoop) {
        if goesNowhere(message.destination, on: loop) { return }
        let owner = topicOwner(message.destination)
        if loops[owner] === loop, loop.inEventLoop {
            _ = shards[owner].value.sequence(message, hub: self, wait: false)
        } else {
            loops[owner].execute { _ = self.shards[owner].value.sequence(message, hub: self, wait: false) }
        }
    }

    /// Whether a topic publish would reach nobody and be kept nowhere: no shard has interest in
    /// it now and the topic keeps no history (the publishing loop's shard's settings, read
    /// without a lock). It is then dropped where it starts, without a hop to the topic's owner,
    /// and not numbered, as the owner would do (`HubShard.sequence`): publishes nobody listens
    /// to (ingest) cost no cross-loop task. A subscription that advertises interest after this
    /// read simply did not exist yet for this message, as before positions.
    private func goesNowhere(_ destination: Destination, on loop: EventLoop) -> Bool {
        guard interest.tracks, interest.shards(for: destination) == 0, loop.inEventLoop, let shard = shard(on: loop) else { return false }
        return !shard.mayKeepHistory(of: destination)
    }

    /// Completes on `loop` once every loop has run the tasks queued on it before this call:
    /// every topic message posted before it has been numbered by its owner, and the fan-out
    /// to `loop`'s own subscriptions was queued ahead of the completion.
    func barrier(on loop: EventLoop) -> EventLoopFuture<Void> {
        EventLoopFuture.andAllSucceed(loops.map { $0.submit {} }, on: loop)
    }

    /// Hands a topic message, already numbered by its owner shard `owner`, to every shard with
    /// interest in it (`mask`, read by the owner when it numbered it); the owner's own share is
    /// delivered at once. Called on the owner's loop; with `wait`, the future (on that loop)
    /// gives how many subscriptions received it.
    func fanOut(_ message: HubMessage, from owner: Int, mask: UInt64, wait: Bool) -> EventLoopFuture<Int>? {
        var futures: [EventLoopFuture<Int>] = []
        forEachShard(in: mask) { index in
            let shard = shards[index]
            if index == owner {
                let count = shard.value.deliverTopic(message)
                if wait { futures.append(loops[owner].makeSucceededFuture(count)) }
            } else if wait {
                futures.append(loops[index].submit { shard.value.deliverTopic(message) })
            } else {
                loops[index].execute { _ = shard.value.deliverTopic(message) }
            }
        }
        guard wait else { return nil }
        guard !futures.isEmpty else { return loops[owner].makeSucceededFuture(0) }
        return EventLoopFuture.whenAllSucceed(futures, on: loops[owner]).map { $0.reduce(0, +) }
    }

    /// The shards a topic publish to `destination` must reach now (bit i: shard i).
    func interestMask(for destination: Destination) -> UInt64 {
        interest.shards(for: destination)
    }

    /// Whether some shard has an exact subscription to `destination`.
    func hasExactSubscribers(_ destination: Destination) -> Bool {
        interest.hasExactSubscribers(destination)
    }

    /// Whether a topic publish to `destination` would reach any shard now: one holds a
    /// subscription to it, or any pattern subscription (which may match it). Lets a producer
    /// of computed messages (the `$sys` statistics) skip the work while nobody listens. Takes
    /// the interest table's lock once; callable on any thread.
    public func mayHaveSubscribers(to destination: Destination) -> Bool {
        !interest.tracks || interest.shards(for: destination) != 0
    }

    /// The shards a publish to `destination` goes to, as a bit mask (for tests).
    func interestedShards(for destination: Destination) -> UInt64 {
        interest.shards(for: destination)
    }

    private func forEachShard(in mask: UInt64, _ body: (Int) -> Void) {
        guard interest.tracks else {
            // More shards than a mask has bits: every shard sees every topic publish.
            for index in shards.indices { body(index) }
            return
        }
        var mask = mask
        while mask != 0 {
            let index = mask.trailingZeroBitCount
            mask &= mask - 1
            guard index < shards.count else { return }
            body(index)
        }
    }

    // MARK: Queue operations, each on the queue's owner shard

    /// Adds a consumer to a queue (creating it), then hands it what the queue holds.
    func addQueueConsumer(_ consumer: QueueConsumer, queue name: String) {
        onOwner(of: name) { owner, hub in owner.addQueueConsumer(consumer, queue: name, hub: hub) }
    }

    /// Removes a consumer and takes back the messages it held unacknowledged.
    func removeQueueConsumer(_ consumer: QueueConsumer, queue name: String, returning messages: [HubMessage]) {
        onOwner(of: name) { owner, hub in
            owner.removeQueueConsumer(consumer, queue: name, hub: hub)
            if !messages.isEmpty { owner.requeue(messages, wasInFlight: true, hub: hub) }
        }
    }

    /// Acknowledged messages leave their queue's count.
    func settle(queue name: String, count: Int) {
        onOwner(of: name) { owner, hub in owner.settle(queue: name, count: count, hub: hub) }
    }

    /// Refused (NACKed) messages go back to their queue, preferably to another consumer.
    func requeue(_ messages: [HubMessage], refusedBy consumer: QueueConsumer) {
        guard let name = messages.first?.destination.name else { return }
        onOwner(of: name) { owner, hub in owner.requeue(messages, avoiding: consumer, wasInFlight: true, hub: hub) }
    }

    private func onOwner(of queue: String, _ body: @escaping @Sendable (HubShard, Hub) -> Void) {
        let owner = queueOwner(queue)
        loops[owner].execute { body(self.shards[owner].value, self) }
    }

    /// What a queue holds: messages waiting for a consumer, and messages handed to consumers
    /// and not yet settled.
    public struct QueueDepth: Sendable, Hashable {
        public var waiting: Int
        public var inFlight: Int

        public init(waiting: Int, inFlight: Int) {
            self.waiting = waiting
            self.inFlight = inFlight
        }
    }

    /// The depth of queue `name` (without `/queue/`), nil when it does not exist; the future
    /// completes on `loop`. For tests and metrics.
    public func queueDepth(_ name: String, on loop: EventLoop) -> EventLoopFuture<QueueDepth?> {
        let owner = queueOwner(name)
        let shard = shards[owner]
        return loops[owner].submit { shard.value.queueDepth(name) }.hop(to: loop)
    }

    /// STOMP sessions alive across all shards (for tests and metrics).
    public func sessionCount(on loop: EventLoop) -> EventLoopFuture<Int> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.sessionCount }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.reduce(0, +) }
    }

    /// Counters and gauges of every shard, added up (each read on its own loop, so the
    /// delivery path counts without atomics). For metrics and the status page.
    public func statistics(on loop: EventLoop) -> EventLoopFuture<HubStatistics> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.statistics() }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { parts in
            var total = HubStatistics()
            for part in parts { total.add(part) }
            return total
        }
    }

    /// Every STOMP session (connected or still negotiating), sorted by id: the admin API.
    public func sessions(on loop: EventLoop) -> EventLoopFuture<[StompSessionSnapshot]> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.sessions() }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.flatMap { $0 }.sorted { $0.id < $1.id } }
    }

    /// Ends every session that `matches` with ERROR `error` (`serverShuttingDown` for a drain,
    /// `disconnectedByAdministrator` for the admin API); the future gives how many. Each
    /// shard acts on its own loop after the tasks already queued there, so a message
    /// published before the call reaches its subscribers before their ERROR.
    public func terminate(
        matching matches: @escaping @Sendable (StompSessionSnapshot) -> Bool,
        with error: StompError,
        on loop: EventLoop
    ) -> EventLoopFuture<Int> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.terminate(matching: matches, with: error) }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { $0.reduce(0, +) }
    }

    /// Ends session `id`'s subscriptions to `destination` (as `StompSessionSnapshot`
    /// lists it). The future gives how many ended, or nil when no session has that id.
    public func revoke(session id: String, destination: String, on loop: EventLoop) -> EventLoopFuture<Int?> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.revoke(session: id, destination: destination) }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { parts in
            parts.compactMap { $0 }.first
        }
    }

    /// Subscriber counts per destination across all shards, for the listing API.
    public func destinationCounts(on loop: EventLoop) -> EventLoopFuture<[String: Int]> {
        let futures = zip(loops, shards).map { shardLoop, shard in
            shardLoop.submit { shard.value.destinationCounts() }
        }
        return EventLoopFuture.whenAllSucceed(futures, on: loop).map { parts in
            var total: [String: Int] = [:]
            for part in parts { total.merge(part, uniquingKeysWith: +) }
            return total
        }
    }

    // MARK: History and presence

    /// The retained messages of topic `destination` after `since` (the newest `limit` when
    /// nil), oldest first, at most `limit` (≥ 0) of them; read at the topic's owner shard, its
    /// ordering point. The future completes on `loop`. A topic without history gives its head
    /// and no messages (`recovered` false when `since` was asked, unless nothing came since).
    /// Must be given an exact (wildcard-free) topic.
    public func history(of destination: Destination, since: TopicPosition?, limit: Int, on loop: EventLoop) -> EventLoopFuture<HistoryPage> {
        let request = ReplayRequest(since: since.map { .position($0) } ?? .none, last: since == nil ? limit : 0, receipt: nil)
        return replay(destination, request, limit: limit, maxBytes: .max, create: false, on: loop)
    }

    /// A replay for a new subscription (`ReplayRequest`), or a history read; the future
    /// completes on `loop`.
    /// `create`: a new subscription's replay (the topic's state is created when it keeps history).
    func replay(_ destination: Destination, _ request: ReplayRequest, limit: Int, maxBytes: Int, create: Bool, on loop: EventLoop)
        -> EventLoopFuture<HistoryPage>
    {
        let owner = topicOwner(destination)
        let shard = shards[owner]
        if loops[owner] === loop, loop.inEventLoop {
            return loop.makeSucceededFuture(shard.value.replay(destination, request, limit: limit, maxBytes: maxBytes, create: create, hub: self))
        }
        return loops[owner].submit {
            shard.value.replay(destination, request, limit: limit, maxBytes: maxBytes, create: create, hub: self)
        }.hop(to: loop)
    }

    /// Who is subscribed to `destination`, read at its owner shard; nil when the destination
    /// has no presence (`ChannelPolicy.presence`). The future completes on `loop`.
    public func presence(of destination: Destination, on loop: EventLoop) -> EventLoopFuture<PresenceSnapshot?> {
        let owner = topicOwner(destination)
        let shard = shards[owner]
        return loops[owner].submit { shard.value.presenceSnapshot(of: destination) }.hop(to: loop)
    }

    /// A subscription to a presence destination began (`joined`) or ended: applied at the
    /// destination's owner, in the order each shard sends them.
    /// `connection` and `generation` name the subscription (`PresenceSet.Key`).
    func presenceChanged(
        _ destination: Destination, connection: UInt64, generation: UInt64, user: String?, data: String?, joined: Bool, on loop: EventLoop
    ) {
        let owner = topicOwner(destination)
        let key = PresenceSet.Key(connection: connection, generation: generation)
        if loops[owner] === loop, loop.inEventLoop {
            shards[owner].value.presenceChanged(destination, key, user: user, data: data, joined: joined, hub: self)
        } else {
            loops[owner].execute { self.shards[owner].value.presenceChanged(destination, key, user: user, data: data, joined: joined, hub: self) }
        }
    }

    /// The shard that orders topic `destination` and keeps its history and presence.
    func topicOwner(_ destination: Destination) -> Int {
        queueOwner(destination.name)
    }

    var shardCount: Int { loops.count }

    func queueOwner(_ name: String) -> Int {
        // FNV-1a: stable across runs, unlike Hasher.
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in name.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return Int(hash % UInt64(loops.count))
    }

    func loop(of shard: Int) -> EventLoop { loops[shard] }
}
