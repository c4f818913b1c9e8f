import NIOCore

/// One client's STOMP session (STOMP 1.0–1.2) on top of any transport: it parses frames,
/// negotiates version and heart-beats, keeps subscriptions, acknowledgements and transactions,
/// and talks to its hub shard. Lives on one event loop.
///
/// Every protocol error ends in one ERROR frame (`StompError`) followed by closing the
/// connection; it affects no other session.
public final class StompConnection {
    struct EncodingKey: Hashable {
        var subscription: String
        var version: StompVersion
        var ack: Bool
    }

    struct EncodedMessage {
        var bytes: ByteBuffer
        var isText: Bool
        var shared: SharedFrame?
    }

    private struct Subscription {
        var id: String
        var destination: Destination
        var ack: StompAckMode
    }

    private struct Unacked {
        var ackID: String
        var subscription: String
        var message: HubMessage
        var fromQueue: Bool
    }

    private enum State {
        case awaitingConnect
        case connected(StompVersion)
        case closed
    }

    private let hub: Hub
    private let shard: HubShard
    private let loop: EventLoop
    private let transport: any StompTransport
    private var principal: Principal
    private var parser: StompParser
    private var state: State = .awaitingConnect
    private(set) var id: UInt64 = 0
    private var sessionName: String { "session-\(String(id, radix: 36))" }
    private var subscriptions: [String: Subscription] = [:]
    private var unacked: [Unacked] = []
    private var transactions: [String: [StompFrame]] = [:]
    private var unwritableBytes = 0
    private var lastReceived: NIODeadline
    private var lastWrite: NIODeadline
    private var sendBeatTask: Scheduled<Void>?
    private var receiveCheckTask: Scheduled<Void>?

    /// - Parameter principal: who the transport already authenticated (an HTTP bearer key);
    ///   CONNECT credentials may replace it.
    public init?(hub: Hub, eventLoop: EventLoop, transport: any StompTransport, principal: Principal = .anonymous) {
        guard let shard = hub.shard(on: eventLoop) else { return nil }
        self.hub = hub
        self.shard = shard
        self.loop = eventLoop
        self.transport = transport
        self.principal = principal
        self.parser = StompParser(limits: hub.configuration.limits)
        self.lastReceived = eventLoop.now
        self.lastWrite = eventLoop.now
        self.id = shard.register(self)
    }

    var version: StompVersion {
        if case .connected(let version) = state { return version }
        return .v1_2
    }

    // MARK: Transport events

    /// Bytes from the client (a TCP read, a WebSocket message).
    public func receive(_ bytes: ByteBuffer) {
        guard !isClosed else { return }
        lastReceived = loop.now
        parser.append(bytes)
        drainParser()
    }

    /// Text from the client (a WebSocket text message, a SockJS string).
    public func receive(_ text: String) {
        guard !isClosed else { return }
        lastReceived = loop.now
        parser.append(text)
        drainParser()
    }

    /// The transport's writability changed.
    public func writabilityChanged() {
        if transport.isWritable { unwritableBytes = 0 }
    }

    /// The transport is gone: undo everything this session holds in the hub.
    public func transportClosed() {
        guard !isClosed else { return }
        state = .closed
        cleanUp()
    }

    private var isClosed: Bool {
        if case .closed = state { return true }
        return false
    }

    private func drainParser() {
        while !isClosed {
            let result: StompParser.ParseResult
            do {
                result = try parser.parseStep()
            } catch {
                fail(error, receipt: nil)
                return
            }
            switch result {
            case .needMoreData:
                transport.flush()
                return
            case .heartbeat:
                continue
            case .frame(let frame):
                do {
                    try handle(frame)
                } catch {
                    fail(error, receipt: frame.headers["receipt"])
                    return
                }
            }
        }
    }

    // MARK: Frames

    private func handle(_ frame: StompFrame) throws(StompError) {
        guard case .connected(let version) = state else {
            guard frame.command == .connect || frame.command == .stomp else {
                throw .notConnected(frame.command.rawValue)
            }
            try connect(frame)
            return
        }
        switch frame.command {
        case .connect, .stomp:
            throw .alreadyConnected
        case .send:
            try send(frame)
        case .subscribe:
            try subscribe(frame, version: version)
        case .unsubscribe:
            try unsubscribe(frame, version: version)
        case .ack, .nack:
            if let transaction = frame.headers["transaction"] {
                try addToTransaction(transaction, frame)
            } else {
                try acknowledge(frame, version: version)
            }
            receipt(for: frame)
        case .begin:
            let transaction = try required("transaction", frame)
            guard transactions[transaction] == nil else { throw .duplicateTransaction(transaction) }
            guard transactions.count < hub.configuration.maxTransactions else {
                throw .invalidHeader("transaction", value: "more than \(hub.configuration.maxTransactions) open")
            }
            transactions[transaction] = []
            receipt(for: frame)
        case .commit:
            let transaction = try required("transaction", frame)
            guard let frames = transactions.removeValue(forKey: transaction) else { throw .unknownTransaction(transaction) }
            for queued in frames {
                if queued.command == .send {
                    try publish(queued, receipt: nil)
                } else {
                    try acknowledge(queued, version: version)
                }
            }
            receipt(for: frame)
        case .abort:
            let transaction = try required("transaction", frame)
            guard transactions.removeValue(forKey: transaction) != nil else { throw .unknownTransaction(transaction) }
            receipt(for: frame)
        case .disconnect:
            receipt(for: frame)
            transport.flush()
            state = .closed
            cleanUp()
            transport.close()
        case .connected, .message, .receipt, .error:
            throw .unknownCommand(frame.command.rawValue)
        }
    }

    private func connect(_ frame: StompFrame) throws(StompError) {
        guard let version = StompVersion.negotiate(acceptVersion: frame.headers["accept-version"]) else {
            throw .unsupportedVersion(frame.headers["accept-version"] ?? "")
        }
        let login = frame.headers["login"]
        let passcode = frame.headers["passcode"]
        if login != nil || passcode != nil {
            guard let authenticated = hub.configuration.authenticate(login, passcode) else { throw .unauthorized }
            principal = authenticated
        }
        var serverSend = 0
        var serverReceive = 0
        if version >= .v1_1, let beat = frame.headers["heart-beat"] {
            let parts = beat.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: " ")) }
            guard parts.count == 2, let clientSend = parts[0], let clientReceive = parts[1], clientSend >= 0, clientReceive >= 0 else {
                throw .invalidHeader("heart-beat", value: beat)
            }
            let configuration = hub.configuration
            if configuration.heartbeatSendMilliseconds > 0 && clientReceive > 0 {
                serverSend = max(configuration.heartbeatSendMilliseconds, clientReceive)
            }
            if configuration.heartbeatReceiveMilliseconds > 0 && clientSend > 0 {
                serverReceive = max(configuration.heartbeatReceiveMilliseconds, clientSend)
            }
        }
        state = .connected(version)
        parser.version = version
        var headers: StompHeaders = ["version": version.rawValue]
        headers.add("server", hub.configuration.serverName)
        headers.add("session", sessionName)
        if version >= .v1_1 {
            headers.add("heart-beat", "\(hub.configuration.heartbeatSendMilliseconds),\(hub.configuration.heartbeatReceiveMilliseconds)")
        }
        write(StompFrame(.connected, headers: headers))
        startHeartbeats(sendEvery: serverSend, expectEvery: serverReceive)
        receipt(for: frame)
    }

    private func send(_ frame: StompFrame) throws(StompError) {
        let text = try required("destination", frame)
        guard let destination = Destination(text) else { throw .invalidDestination(text) }
        guard hub.configuration.authorize(principal, .send, destination) else { throw .permissionDenied("send to", destination: text) }
        if let transaction = frame.headers["transaction"] {
            try addToTransaction(transaction, frame)
            receipt(for: frame)
            return
        }
        try publish(frame, receipt: frame.headers["receipt"])
    }

    private func publish(_ frame: StompFrame, receipt: String?) throws(StompError) {
        let text = try required("destination", frame)
        guard let destination = Destination(text) else { throw .invalidDestination(text) }
        let message = HubMessage(
            id: hub.nextMessageID(),
            destination: destination,
            headers: HubMessage.passThroughHeaders(frame.headers),
            body: frame.body
        )
        let future = hub.publish(message, on: loop)
        guard let receipt else { return }
        future.assumeIsolated().whenComplete { [weak self] result in
            guard let self, !self.isClosed else { return }
            switch result {
            case .success:
                self.write(StompFrame(.receipt, headers: ["receipt-id": receipt]))
                self.transport.flush()
            case .failure:
                self.fail(.invalidDestination("\(text) (the queue is full)"), receipt: receipt)
            }
        }
    }

    private func subscribe(_ frame: StompFrame, version: StompVersion) throws(StompError) {
        let text = try required("destination", frame)
        let id: String
        if version == .v1_0 {
            id = frame.headers["id"] ?? text
        } else {
            id = try required("id", frame)
        }
        guard let destination = Destination(text, allowWildcards: true) else { throw .invalidDestination(text) }
        let ackText = frame.headers["ack"] ?? "auto"
        guard let ack = StompAckMode(rawValue: ackText), version > .v1_0 || ack != .clientIndividual else {
            throw .invalidHeader("ack", value: ackText)
        }
        guard subscriptions[id] == nil else { throw .duplicateSubscription(id) }
        guard subscriptions.count < hub.configuration.maxSubscriptions else {
            throw .invalidHeader("id", value: "more than \(hub.configuration.maxSubscriptions) subscriptions")
        }
        guard hub.configuration.authorize(principal, .subscribe, destination) else {
            throw .permissionDenied("subscribe to", destination: text)
        }
        subscriptions[id] = Subscription(id: id, destination: destination, ack: ack)
        switch destination.kind {
        case .topic:
            shard.addTopicSubscription(connection: self.id, id: id, destination: destination)
        case .queue:
            let consumer = QueueConsumer(shard: shard.index, connection: self.id, subscription: id)
            let owner = hub.queueOwner(destination.name)
            let hub = self.hub
            hub.loop(of: owner).execute {
                hub.shards[owner].value.addQueueConsumer(consumer, queue: destination.name, hub: hub)
            }
        }
        receipt(for: frame)
    }

    private func unsubscribe(_ frame: StompFrame, version: StompVersion) throws(StompError) {
        let id: String
        if version == .v1_0, frame.headers["id"] == nil {
            id = try required("destination", frame)
        } else {
            id = try required("id", frame)
        }
        guard let subscription = subscriptions.removeValue(forKey: id) else { throw .unknownSubscription(id) }
        detach(subscription)
        receipt(for: frame)
    }

    /// Removes a subscription from the hub and gives its unacknowledged queue messages back.
    private func detach(_ subscription: Subscription) {
        switch subscription.destination.kind {
        case .topic:
            shard.removeTopicSubscription(connection: id, id: subscription.id)
        case .queue:
            let consumer = QueueConsumer(shard: shard.index, connection: id, subscription: subscription.id)
            let owner = hub.queueOwner(subscription.destination.name)
            let returned = unacked.filter { $0.subscription == subscription.id && $0.fromQueue }.map(\.message)
            let hub = self.hub
            let name = subscription.destination.name
            hub.loop(of: owner).execute {
                let ownerShard = hub.shards[owner].value
                ownerShard.removeQueueConsumer(consumer, queue: name)
                if !returned.isEmpty { ownerShard.requeue(returned, hub: hub) }
            }
        }
        unacked.removeAll { $0.subscription == subscription.id }
    }

    private func acknowledge(_ frame: StompFrame, version: StompVersion) throws(StompError) {
        let index: Int?
        switch version {
        case .v1_2:
            let ackID = try required("id", frame)
            index = unacked.firstIndex { $0.ackID == ackID }
        case .v1_1:
            let messageID = try required("message-id", frame)
            let subscription = try required("subscription", frame)
            index = unacked.firstIndex { $0.message.id == messageID && $0.subscription == subscription }
        case .v1_0:
            let messageID = try required("message-id", frame)
            index = unacked.firstIndex { $0.message.id == messageID }
        }
        // An ACK for something already settled (or never sent) changes nothing.
        guard let index else { return }
        let target = unacked[index]
        let mode = subscriptions[target.subscription]?.ack ?? .clientIndividual
        var settled: [Unacked]
        if mode == .client {
            // Cumulative: everything delivered on this subscription up to the target.
            settled = unacked[...index].filter { $0.subscription == target.subscription }
            unacked = unacked.enumerated().filter { $0.offset > index || $0.element.subscription != target.subscription }.map(\.element)
        } else {
            settled = [target]
            unacked.remove(at: index)
        }
        if frame.command == .nack {
            settled.removeAll { !$0.fromQueue }  // topic messages are simply dropped
            if let name = settled.first?.message.destination.name {
                let owner = hub.queueOwner(name)
                let hub = self.hub
                let messages = settled.map(\.message)
                let refuser = QueueConsumer(shard: shard.index, connection: id, subscription: target.subscription)
                hub.loop(of: owner).execute { hub.shards[owner].value.requeue(messages, avoiding: refuser, hub: hub) }
            }
        }
    }

    private func addToTransaction(_ transaction: String, _ frame: StompFrame) throws(StompError) {
        guard var frames = transactions[transaction] else { throw .unknownTransaction(transaction) }
        guard frames.count < hub.configuration.maxFramesPerTransaction else {
            throw .invalidHeader("transaction", value: "more than \(hub.configuration.maxFramesPerTransaction) frames")
        }
        frames.append(frame)
        transactions[transaction] = frames
    }

    // MARK: Delivery

    /// Delivers a topic message to subscription `subscriptionID`, reusing `cache` for sessions
    /// that need byte-identical frames. Returns false when the subscription is gone.
    func deliver(_ message: HubMessage, subscription subscriptionID: String, cache: inout [EncodingKey: EncodedMessage]) -> Bool {
        guard !isClosed, let subscription = subscriptions[subscriptionID] else { return false }
        let needsAck = subscription.ack != .auto
        let key = EncodingKey(subscription: subscriptionID, version: version, ack: needsAck)
        let encoded: EncodedMessage
        if let cached = cache[key] {
            encoded = cached
        } else {
            encoded = encode(message, subscription: subscriptionID, ack: needsAck, shared: SharedFrame())
            cache[key] = encoded
        }
        if needsAck {
            unacked.append(Unacked(ackID: ackID(message, subscriptionID), subscription: subscriptionID, message: message, fromQueue: false))
        }
        write(encoded)
        transport.flush()
        return true
    }

    /// Delivers a queue message; false when the subscription is gone (the owner requeues it).
    func deliverQueued(_ message: HubMessage, subscription subscriptionID: String) -> Bool {
        guard !isClosed, let subscription = subscriptions[subscriptionID] else { return false }
        let needsAck = subscription.ack != .auto
        if needsAck {
            unacked.append(Unacked(ackID: ackID(message, subscriptionID), subscription: subscriptionID, message: message, fromQueue: true))
        }
        write(encode(message, subscription: subscriptionID, ack: needsAck))
        transport.flush()
        return true
    }

    private func ackID(_ message: HubMessage, _ subscription: String) -> String {
        "\(message.id)/\(subscription)"
    }

    private func encode(_ message: HubMessage, subscription: String, ack: Bool, shared: SharedFrame? = nil) -> EncodedMessage {
        var headers: StompHeaders = ["destination": message.destination.description]
        headers.add("message-id", message.id)
        headers.add("subscription", subscription)
        if ack && version == .v1_2 { headers.add("ack", ackID(message, subscription)) }
        for (name, value) in message.headers { headers.add(name, value) }
        let bytes = StompEncoder.encode(StompFrame(.message, headers: headers, body: message.body), version: version)
        return EncodedMessage(bytes: bytes, isText: message.bodyIsText, shared: shared)
    }

    // MARK: Output

    private func write(_ frame: StompFrame) {
        let bytes = StompEncoder.encode(frame, version: version)
        write(EncodedMessage(bytes: bytes, isText: UTF8Checker().isValid(frame.body), shared: nil))
    }

    private func write(_ encoded: EncodedMessage) {
        guard !isClosed else { return }
        if !transport.isWritable {
            unwritableBytes += encoded.bytes.readableBytes
            if unwritableBytes > hub.configuration.maxOutboundBytes {
                fail(.slowConsumer, receipt: nil)
                return
            }
        }
        lastWrite = loop.now
        transport.write(encoded.bytes, isText: encoded.isText, shared: encoded.shared)
    }

    /// Answers a frame's `receipt` header (non-transactional SENDs answer after publishing).
    private func receipt(for frame: StompFrame) {
        guard let receipt = frame.headers["receipt"] else { return }
        write(StompFrame(.receipt, headers: ["receipt-id": receipt]))
    }

    private func required(_ header: String, _ frame: StompFrame) throws(StompError) -> String {
        guard let value = frame.headers[header] else { throw .missingHeader(header, in: frame.command) }
        return value
    }

    /// Sends ERROR and closes (STOMP 1.2 "ERROR": the server closes after sending it).
    private func fail(_ error: StompError, receipt: String?) {
        guard !isClosed else { return }
        var headers: StompHeaders = ["message": error.message]
        if let receipt { headers.add("receipt-id", receipt) }
        headers.add("content-type", "text/plain")
        let frame = StompFrame(.error, headers: headers, body: ByteBuffer(string: error.detail))
        transport.write(StompEncoder.encode(frame, version: version), isText: true)
        transport.flush()
        state = .closed
        cleanUp()
        transport.close()
    }

    // MARK: Heart-beats

    private func startHeartbeats(sendEvery sendMilliseconds: Int, expectEvery receiveMilliseconds: Int) {
        if sendMilliseconds > 0 {
            scheduleSendBeat(every: .milliseconds(Int64(sendMilliseconds)))
        }
        if receiveMilliseconds > 0 {
            let limit = TimeAmount.milliseconds(Int64(Double(receiveMilliseconds) * hub.configuration.heartbeatTolerance))
            scheduleReceiveCheck(every: .milliseconds(Int64(max(receiveMilliseconds / 4, 10))), limit: limit)
        }
    }

    /// Sends an EOL whenever `interval` passes without any other output. The timer is aimed
    /// at the moment the interval since the last write runs out, so a write just after a beat
    /// never stretches the silence towards twice the interval.
    private func scheduleSendBeat(every interval: TimeAmount) {
        let due = lastWrite + interval
        let delay = max(due - loop.now, .milliseconds(1))
        sendBeatTask = loop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, !self.isClosed else { return }
            if self.loop.now - self.lastWrite >= interval - .milliseconds(1) {
                self.lastWrite = self.loop.now
                self.transport.write(ByteBuffer(string: "\n"), isText: true)
                self.transport.flush()
            }
            self.scheduleSendBeat(every: interval)
        }
    }

    /// Drops a client from which nothing arrived for its interval times the tolerance.
    private func scheduleReceiveCheck(every interval: TimeAmount, limit: TimeAmount) {
        receiveCheckTask = loop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, !self.isClosed else { return }
            if self.loop.now - self.lastReceived > limit {
                self.fail(.heartbeatTimeout, receipt: nil)
                return
            }
            self.scheduleReceiveCheck(every: interval, limit: limit)
        }
    }

    private func cleanUp() {
        sendBeatTask?.cancel()
        receiveCheckTask?.cancel()
        sendBeatTask = nil
        receiveCheckTask = nil
        transactions.removeAll()  // open transactions abort at disconnect
        for subscription in subscriptions.values { detach(subscription) }
        subscriptions.removeAll()
        unacked.removeAll()
        shard.unregister(id)
    }
}

@available(*, unavailable)
extension StompConnection: Sendable {}
