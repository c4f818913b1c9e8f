import Logging
import NIOCore

/// Drives one client's `StompSession` over any transport: owns the parser, the timers
/// (CONNECT timeout, heart-beats) and the transport, feeds frames to the session and carries
/// out the actions it returns against the hub. Lives on one event loop.
///
/// Every protocol error ends in one ERROR frame (`StompError`) followed by closing the
/// connection; it affects no other session. A client that falls more than
/// `HubConfiguration.maxOutboundBytes` behind is dropped at once (`StompTransport.abort`).
public final class StompConnection {
    struct EncodingKey: Hashable {
        var subscription: String
        var version: StompVersion
        var ack: Bool
        var textOnly: Bool
    }

    struct EncodedMessage {
        var bytes: ByteBuffer
        var isText: Bool
        var shared: SharedFrame?
    }

    private let hub: Hub
    private let shard: HubShard
    private let loop: EventLoop
    private let transport: any StompTransport
    private var parser: StompParser
    private var session: StompSession
    private(set) var id: UInt64
    private var unwritableBytes = 0
    private var lastReceived: NIODeadline
    private var lastWrite: NIODeadline
    private var connectTimeoutTask: Scheduled<Void>?
    private var sendBeatTask: Scheduled<Void>?
    private var receiveCheckTask: Scheduled<Void>?
    private var expiryTask: Scheduled<Void>?
    /// What the transport knew of the client before CONNECT, for the gatekeeper; dropped once
    /// CONNECT is answered, so that a connected client's handshake headers are not kept.
    private var client: (any Sendable)?
    private var finished = false
    /// For operators: the transport's name and the client's address.
    let label: StompConnectionLabel
    private let openedAt: NIODeadline
    private(set) var traffic = StompTraffic()
    /// This transport's counters on this shard (`Hub.statistics`).
    private let counters: TransportCounters
    /// Why the connection ended, for its log line; set by whatever ended it first.
    private var closeReason: String?
    /// Waiting in the shard's list of connections to flush at the end of the tick.
    private var flushRequested = false
    /// Subscriptions waiting for their replay (`perigee-since`, `perigee-history`) from the
    /// topic's owner, by id: live messages that reach them meanwhile wait here.
    private var replays: [String: PendingReplay] = [:]
    /// Topic messages were posted to their owners since the last DISCONNECT barrier.
    private var postedTopicMessages = false
    /// A DISCONNECT held until the hub's barrier: see `drainParser`.
    private var heldDisconnect: StompFrame?
    /// Subscriptions counted in a destination's presence, by id, with their generation.
    private var presenceJoined: [String: (destination: Destination, generation: UInt64)] = [:]

    private struct PendingReplay {
        var generation: UInt64
        var buffered: [HubMessage] = []
        var bytes = 0
    }

    /// - Parameter client: what the transport knows of the client (handshake headers, address),
    ///   handed to the gatekeeper with the CONNECT (`StompConnectRequest.client`).
    ///   - label: the transport's name and the client's address, for metrics, logs and the
    ///     admin API.
    public init?(hub: Hub, eventLoop: EventLoop, transport: any StompTransport, client: (any Sendable)? = nil, label: StompConnectionLabel = .unknown) {
        guard let shard = hub.shard(on: eventLoop) else { return nil }
        self.hub = hub
        self.shard = shard
        self.loop = eventLoop
        self.transport = transport
        // Read once: a session keeps the settings it was created with across reloads.
        let configuration = hub.configuration
        self.parser = StompParser(limits: configuration.limits)
        let id = shard.allocateConnectionID()
        self.id = id
        self.session = StompSession(configuration: configuration, sessionName: "session-\(String(id, radix: 36))")
        self.client = client
        self.lastReceived = eventLoop.now
        self.lastWrite = eventLoop.now
        self.label = label
        self.openedAt = eventLoop.now
        self.counters = shard.counters(for: label.transport)
        counters.opened &+= 1
        counters.open += 1
        shard.register(self, id: id)
        session.configuration.logger.info(
            "connection opened",
            metadata: ["connection": "\(session.sessionName)", "transport": "\(label.transport)", "address": "\(label.address ?? "-")"]
        )
        scheduleConnectTimeout()
    }

    /// The session's id in logs and in the admin API (CONNECTED's `session` header).
    var sessionName: String { session.sessionName }

    var version: StompVersion { session.version }

    // MARK: Transport events

    /// Bytes from the client (a TCP read, a WebSocket message).
    public func receive(_ bytes: ByteBuffer) {
        guard !finished else { return }
        lastReceived = loop.now
        countIn(bytes.readableBytes)
        parser.append(bytes)
        boundInputAwaitingDecision()
        drainParser()
    }

    /// Text from the client (a WebSocket text message, a SockJS string).
    public func receive(_ text: String) {
        guard !finished else { return }
        lastReceived = loop.now
        countIn(text.utf8.count)
        parser.append(text)
        boundInputAwaitingDecision()
        drainParser()
    }

    /// Whether later frames must wait: one is held for the gatekeeper, or a subscription waits
    /// for its replay. One replay at a time per session keeps a client that subscribes in a
    /// loop from keeping the topic owners' loops busy: each replay costs what it sends, and the
    /// client must take it before asking for the next.
    private var isWaiting: Bool { session.isAwaitingDecision || !replays.isEmpty || heldDisconnect != nil }

    /// While a frame waits for the gatekeeper or a replay, later input stays unparsed in the
    /// parser: at most `maxInputAwaitingDecision` bytes of it.
    private func boundInputAwaitingDecision() {
        let limit = session.configuration.maxInputAwaitingDecision
        guard isWaiting, parser.bufferedBytes > limit else { return }
        perform(session.fail(.inputAwaitingAuthorization(limit: limit), receipt: nil))
    }

    /// Replaces what the transport knows of the client, as long as no CONNECT has been
    /// handed to the gatekeeper yet: a transport whose frames arrive over several requests
    /// (SockJS xhr_send) describes the client by the request that carries the CONNECT.
    public func updateClient(_ client: (any Sendable)?) {
        guard !finished, session.state == .awaitingConnect else { return }
        self.client = client
    }

    /// The transport's writability changed.
    public func writabilityChanged() {
        if transport.isWritable { unwritableBytes = 0 }
    }

    /// The transport is gone: undo everything this session holds in the hub.
    public func transportClosed() {
        guard !finished else { return }
        if closeReason == nil { closeReason = "connection closed by the client" }
        perform(session.transportClosed())
        finish()
    }

    /// The transport broke off because the client broke its protocol or a limit (a WebSocket
    /// frame too large, invalid UTF-8): counted (with `limit`, a metric label) and logged at
    /// `notice` like an ERROR, and named as the close reason. `transportClosed` follows.
    public func transportFailed(_ reason: String, limit: String?) {
        guard !finished else { return }
        if closeReason == nil { closeReason = reason }
        shard.recordTransportFailure(limit: limit)
        var metadata: Logger.Metadata = ["connection": "\(session.sessionName)", "transport": "\(label.transport)", "error": "\(reason)"]
        if let limit { metadata["limit"] = "\(limit)" }
        session.configuration.logger.notice("protocol error", metadata: metadata)
    }

    // MARK: Operators

    /// Ends the session with ERROR `error` (`serverShuttingDown` closes the transport the way
    /// it says "go away"; see `StompTransport.goAway`).
    func terminate(_ error: StompError) {
        guard !finished else { return }
        perform(session.fail(error, receipt: nil))
    }

    /// Ends the session's subscriptions to `destination` (`StompSession.revoke`); returns how
    /// many there were.
    func revoke(destination: String) -> Int {
        guard !finished else { return 0 }
        let actions = session.revoke(destination: destination)
        perform(actions)
        return actions.count
    }

    /// The session as the admin API lists it.
    func snapshot(now: NIODeadline) -> StompSessionSnapshot {
        var connected = false
        if case .connected = session.state { connected = true }
        return StompSessionSnapshot(
            id: session.sessionName,
            user: session.principal.user,
            kind: session.principal.kind,
            connected: connected,
            label: label,
            subscriptions: session.subscribedDestinations,
            ageSeconds: Double((now - openedAt).nanoseconds) / 1e9,
            traffic: traffic
        )
    }

    /// The principal's kind once CONNECT was answered; nil before.
    var connectedKind: String? {
        guard case .connected = session.state else { return nil }
        return session.principal.kind
    }

    private func countIn(_ bytes: Int) {
        traffic.bytesIn &+= UInt64(bytes)
        counters.traffic.bytesIn &+= UInt64(bytes)
    }

    private func countOut(_ bytes: Int, message: Bool) {
        traffic.bytesOut &+= UInt64(bytes)
        counters.traffic.bytesOut &+= UInt64(bytes)
        if message {
            traffic.messagesOut &+= 1
            counters.traffic.messagesOut &+= 1
        }
    }

    private func drainParser() {
        while !finished {
            if isWaiting {
                // The held frame's answer (or the replay) resumes parsing; what was written so
                // far goes now.
                transport.flush()
                return
            }
            let result: StompParser.ParseResult
            do {
                result = try parser.parseStep()
            } catch {
                perform(session.fail(error, receipt: nil))
                return
            }
            switch result {
            case .needMoreData:
                transport.flush()
                return
            case .heartbeat:
                continue
            case .frame(let frame) where frame.command == .disconnect && postedTopicMessages:
                // Topic messages this session published went to their owners' loops and may
                // not have come back to its own subscriptions yet: the DISCONNECT (and its
                // RECEIPT) waits until every owner has fanned out what was posted before it,
                // so that a client sees its own messages before the RECEIPT, as STOMP's
                // graceful disconnect lets it expect.
                postedTopicMessages = false
                heldDisconnect = frame
                hub.barrier(on: loop).assumeIsolated().whenComplete { [weak self] _ in
                    guard let self, !self.finished, let held = self.heldDisconnect else { return }
                    self.heldDisconnect = nil
                    self.perform(self.session.receive(held))
                    self.resumeParsing()
                }
            case .frame(let frame):
                perform(session.receive(frame))
            }
        }
    }

    // MARK: Actions

    private func perform(_ actions: [StompSession.Action]) {
        for action in actions {
            guard !finished else { return }
            perform(action)
        }
    }

    private func perform(_ action: StompSession.Action) {
        switch action {
        case .write(let frame):
            write(frame)
        case .publish(let destination, let headers, let body, let receipt):
            traffic.messagesIn &+= 1
            counters.traffic.messagesIn &+= 1
            let message = HubMessage(id: shard.nextMessageID(), destination: destination, headers: headers, body: body)
            if receipt == nil, destination.kind == .topic {
                // Nobody waits for the outcome, and a topic publish cannot fail: no futures.
                postedTopicMessages = true
                hub.post(topicMessage: message, on: loop)
            } else {
                publish(message, receipt: receipt)
            }
        case .subscribe(let subscription, let destination, let ack, let generation, let replay, _):
            switch destination.kind {
            case .topic:
                shard.addTopicSubscription(connection: id, id: subscription, destination: destination)
                joinPresence(subscription, destination, generation)
                if let replay { startReplay(subscription, destination, generation, ack, replay) }
            case .queue:
                hub.addQueueConsumer(consumer(subscription, generation, needsAck: ack != .auto), queue: destination.name)
                if let replay { answer(replay, page: nil) }
            }
        case .unsubscribe(let subscription, let destination, let returned, let generation):
            switch destination.kind {
            case .topic:
                shard.removeTopicSubscription(connection: id, id: subscription)
                replays[subscription] = nil
                if let joined = presenceJoined.removeValue(forKey: subscription) {
                    hub.presenceChanged(
                        joined.destination, connection: id, generation: joined.generation, user: session.principal.user, data: nil, joined: false, on: loop
                    )
                }
            case .queue:
                hub.removeQueueConsumer(consumer(subscription, generation, needsAck: false), queue: destination.name, returning: returned)
            }
        case .settle(let queue, let count):
            hub.settle(queue: queue, count: count)
        case .requeue(let messages, let subscription, let generation):
            hub.requeue(messages, refusedBy: consumer(subscription, generation, needsAck: true))
        case .startHeartbeats(let sendEvery, let expectEvery):
            startHeartbeats(sendEvery: sendEvery, expectEvery: expectEvery)
        case .fail(let error, let receipt):
            var headers: StompHeaders = ["message": error.message]
            if let receipt { headers.add("receipt-id", receipt) }
            headers.add("content-type", "text/plain")
            let frame = StompFrame(.error, headers: headers, body: ByteBuffer(string: error.detail))
            let bytes = StompEncoder.encode(frame, version: session.version)
            record(error)
            finish()
            if error == .serverShuttingDown {
                transport.goAway(farewell: bytes)
            } else if error == .slowConsumer {
                // Its queued output is never going to be read: discard it with the connection.
                transport.abort(farewell: bytes)
            } else {
                transport.write(bytes, isText: true)
                transport.flush()
                transport.close(afterError: true)
            }
        case .close:
            if closeReason == nil { closeReason = "DISCONNECT" }
            transport.flush()
            finish()
            transport.close(afterError: false)
        case .authenticate(let headers):
            let request = StompConnectRequest(headers: headers, sessionName: session.sessionName, client: client, eventLoop: loop)
            client = nil
            decide(session.configuration.gatekeeper.authenticate(request)) { connection, result in
                connection.perform(connection.session.authenticated(result))
                connection.didConnect()
            }
        case .review(let action):
            let request = StompReview(principal: session.principal, sessionName: session.sessionName, action: action, eventLoop: loop)
            decide(session.configuration.gatekeeper.review(request)) { connection, result in
                connection.perform(connection.session.reviewed(result))
            }
        }
    }

    /// Applies a gatekeeper verdict now, or when it arrives (then resumes parsing the input
    /// that waited). A verdict that fails outright counts as `authorization unavailable`.
    private func decide<Value: Sendable>(_ verdict: StompVerdict<Value>, apply: @escaping (StompConnection, Result<Value, StompError>) -> Void) {
        switch verdict {
        case .decided(let result):
            apply(self, result)
        case .pending(let future):
            future.hop(to: loop).assumeIsolated().whenComplete { [weak self] outcome in
                guard let self, !self.finished else { return }
                switch outcome {
                case .success(let result): apply(self, result)
                case .failure(let error): apply(self, .failure(.authorizationUnavailable("\(error)")))
                }
                self.drainParser()
            }
        }
    }

    /// After CONNECTED: the parser learns the version, the CONNECT timeout stops, and a
    /// principal that expires gets its ERROR `token expired` at that moment.
    private func didConnect() {
        guard !finished, parser.version == nil, case .connected(let version) = session.state else { return }
        parser.version = version
        connectTimeoutTask?.cancel()
        connectTimeoutTask = nil
        if let expiry = session.principal.expiry {
            expiryTask = loop.assumeIsolated().scheduleTask(deadline: expiry) { [weak self] in
                guard let self, !self.finished else { return }
                self.perform(self.session.fail(.tokenExpired, receipt: nil))
            }
        }
    }

    /// This session's subscription as its queue's owner knows it (`needsAck` is not part of
    /// its identity).
    private func consumer(_ subscription: String, _ generation: UInt64, needsAck: Bool) -> QueueConsumer {
        QueueConsumer(shard: shard.index, connection: id, subscription: subscription, generation: generation, needsAck: needsAck)
    }

    private func publish(_ message: HubMessage, receipt: String?) {
        hub.publish(message, on: loop).assumeIsolated().whenComplete { [weak self] result in
            guard let self, !self.finished else { return }
            switch result {
            case .success:
                guard let receipt else { return }
                self.write(StompFrame(.receipt, headers: ["receipt-id": receipt]))
                self.transport.flush()
            case .failure(let error):
                // A SEND that the hub could not take is answered even without a receipt:
                // silently dropping it would lose a message the client believes sent.
                let stompError: StompError
                switch error as? Hub.PublishError {
                case .tooManyQueues(let limit): stompError = .tooManyQueues(limit: limit)
                case .shuttingDown: stompError = .serverShuttingDown
                default: stompError = .queueFull(message.destination.description)
                }
                self.perform(self.session.fail(stompError, receipt: receipt))
            }
        }
    }

    // MARK: Resume and presence

    /// Counts the subscription in its destination's presence when the destination has it.
    private func joinPresence(_ subscription: String, _ destination: Destination, _ generation: UInt64) {
        guard !destination.isPattern, hub.configuration.channelPolicy(destination).presence else { return }
        presenceJoined[subscription] = (destination, generation)
        let principal = session.principal
        hub.presenceChanged(
            destination, connection: id, generation: generation, user: principal.user,
            data: principal.user == nil ? nil : principal.presence, joined: true, on: loop
        )
    }

    /// Asks the topic's owner for the replay of a new subscription; live messages for it wait
    /// (`deliver`) until the answer is delivered. A pattern subscription cannot be resumed.
    private func startReplay(_ subscription: String, _ destination: Destination, _ generation: UInt64, _ ack: StompAckMode, _ request: ReplayRequest) {
        guard !destination.isPattern else {
            answer(request, page: nil)
            return
        }
        replays[subscription] = PendingReplay(generation: generation)
        // One replay must fit the output bound with room to spare (`TopicLog.read`).
        let maxBytes = session.configuration.maxOutboundBytes / 2
        // An acknowledging subscription holds its replay unacknowledged: no more than it may.
        let limit = ack == .auto ? ChannelPolicy.maxHistory : session.configuration.maxUnacknowledgedMessages
        hub.replay(destination, request, limit: limit, maxBytes: maxBytes, create: true, on: loop).assumeIsolated().whenComplete {
            [weak self] result in
            guard let self, !self.finished else { return }
            // Parsing resumes once no replay is pending, in a task of its own: the answer may
            // come at once (this loop owns the topic), inside the SUBSCRIBE's own handling.
            defer { self.resumeParsing() }
            guard let pending = self.replays[subscription], pending.generation == generation else { return }
            self.replays[subscription] = nil
            guard case .success(var page) = result else {
                self.answer(request, page: nil)
                self.deliverHeld(pending.buffered, subscription: subscription, after: nil)
                return
            }
            if page.truncated {
                // More was missed than this subscription may be sent at once: not recovered,
                // and nothing replayed (a partial replay would leave a gap before live ones).
                page = HistoryPage(head: page.head, recovered: false, messages: [], truncated: false)
            }
            self.answer(request, page: page)
            self.deliverHeld(page.messages, subscription: subscription, after: nil)
            self.deliverHeld(pending.buffered, subscription: subscription, after: page.head)
        }
    }

    private func resumeParsing() {
        loop.assumeIsolated().execute { [weak self] in
            guard let self, !self.finished, !self.isWaiting else { return }
            self.drainParser()
        }
    }

    /// The RECEIPT of a SUBSCRIBE that asked for a replay: `perigee-recovered` (when it asked
    /// to resume), `perigee-replayed`, and the topic's head at the seam. Without `page`
    /// (not a topic, a pattern) nothing was replayed and nothing is recovered.
    private func answer(_ request: ReplayRequest, page: HistoryPage?) {
        if request.since != .none { shard.recordResume(recovered: page?.recovered == true) }
        guard let receipt = request.receipt else { return }
        var headers: StompHeaders = ["receipt-id": receipt]
        if request.since != .none { headers.add(PerigeeHeader.recovered, page?.recovered == true ? "true" : "false") }
        headers.add(PerigeeHeader.replayed, String(page?.messages.count ?? 0))
        if let head = page?.head, !head.epoch.isEmpty {
            headers.add(PerigeeHeader.epoch, head.epoch)
            headers.add(PerigeeHeader.offset, String(head.offset))
        }
        write(StompFrame(.receipt, headers: headers))
        requestFlush()
    }

    /// Delivers replayed or held messages in order; with `after`, those of its epoch at or
    /// before its offset are skipped (already in the replay).
    private func deliverHeld(_ messages: [HubMessage], subscription: String, after seam: TopicPosition?) {
        var permissions: [Principal: Bool] = [:]
        for message in messages {
            guard !finished else { return }
            if let seam, let position = message.position, position.epoch == seam.epoch, position.offset <= seam.offset { continue }
            var cache: [EncodingKey: EncodedMessage] = [:]
            _ = deliver(message, subscription: subscription, cache: &cache, permissions: &permissions)
        }
    }

    // MARK: Delivery

    /// Delivers a topic message to subscription `subscriptionID`, reusing `cache` for sessions
    /// that need byte-identical frames, and `permissions` (for this message's destination,
    /// by principal) for pattern subscriptions. Returns false when nothing was delivered.
    func deliver(
        _ message: HubMessage,
        subscription subscriptionID: String,
        cache: inout [EncodingKey: EncodedMessage],
        permissions: inout [Principal: Bool]
    ) -> Bool {
        if !replays.isEmpty, var pending = replays[subscriptionID] {
            // Held until the replay is delivered, within the output bound.
            pending.bytes += message.body.readableBytes + 256
            guard pending.bytes <= session.configuration.maxOutboundBytes else {
                perform(session.fail(.slowConsumer, receipt: nil))
                return false
            }
            pending.buffered.append(message)
            replays[subscriptionID] = pending
            return true
        }
        let gatekeeper = session.configuration.gatekeeper
        let delivery: StompSession.Delivery
        do {
            delivery = try session.deliver(message, subscription: subscriptionID, fromQueue: false) { principal, destination in
                if let known = permissions[principal] { return known }
                let allowed = gatekeeper.allows(principal, .subscribe, destination)
                permissions[principal] = allowed
                return allowed
            }
        } catch {
            perform(session.fail(error, receipt: nil))
            return false
        }
        guard case .send(let ackID) = delivery else { return false }
        let key = EncodingKey(subscription: subscriptionID, version: session.version, ack: ackID != nil, textOnly: transport.carriesTextOnly)
        let encoded: EncodedMessage
        if let cached = cache[key] {
            encoded = cached
        } else {
            encoded = encode(message, subscription: subscriptionID, ackID: ackID, textOnly: key.textOnly, shared: SharedFrame())
            cache[key] = encoded
        }
        write(encoded, message: true)
        requestFlush()
        return true
    }

    /// Delivers a queue message to the subscription `generation` of `subscriptionID`; false when
    /// it is gone (or the id now names a later subscription) or the session failed: the owner
    /// then takes the message back, so nothing is lost.
    func deliverQueued(_ message: HubMessage, subscription subscriptionID: String, generation: UInt64) -> Bool {
        let delivery: StompSession.Delivery
        do {
            delivery = try session.deliver(message, subscription: subscriptionID, generation: generation, fromQueue: true) { _, _ in true }
        } catch {
            perform(session.fail(error, receipt: nil))
            return false
        }
        guard case .send(let ackID) = delivery else { return false }
        write(encode(message, subscription: subscriptionID, ackID: ackID, textOnly: transport.carriesTextOnly), message: true)
        requestFlush()
        return true
    }

    /// A MESSAGE frame. For text-only transports (SockJS) a body that is not UTF-8 is sent as
    /// its UTF-8 decoding (invalid sequences become U+FFFD) and `content-length` counts the
    /// bytes of that text, so that the frame's length is right for the bytes actually sent.
    private func encode(_ message: HubMessage, subscription: String, ackID: String?, textOnly: Bool, shared: SharedFrame? = nil) -> EncodedMessage {
        var headers: StompHeaders = ["destination": message.destination.description]
        headers.add("message-id", message.id)
        headers.add("subscription", subscription)
        if let ackID, session.version == .v1_2 { headers.add("ack", ackID) }
        if let position = message.position {
            headers.add(PerigeeHeader.epoch, position.epoch)
            headers.add(PerigeeHeader.offset, String(position.offset))
        }
        for (name, value) in message.headers { headers.add(name, value) }
        var body = message.body
        if textOnly && !message.bodyIsText {
            body = ByteBuffer(string: String(decoding: message.body.readableBytesView, as: UTF8.self))
        }
        let bytes = StompEncoder.encode(StompFrame(.message, headers: headers, body: body), version: session.version)
        return EncodedMessage(bytes: bytes, isText: textOnly || message.bodyIsText, shared: shared)
    }

    // MARK: Output

    /// Deliveries are flushed together at the end of the tick (`HubShard.scheduleFlush`).
    private func requestFlush() {
        guard !flushRequested, !finished else { return }
        flushRequested = true
        shard.scheduleFlush(self)
    }

    /// Called by the shard once per tick for a connection that asked (`requestFlush`).
    func flushCoalesced() {
        flushRequested = false
        guard !finished else { return }
        transport.flush()
    }

    private func write(_ frame: StompFrame) {
        let bytes = StompEncoder.encode(frame, version: session.version)
        write(EncodedMessage(bytes: bytes, isText: UTF8Checker().isValid(frame.body), shared: nil))
    }

    private func write(_ encoded: EncodedMessage, message: Bool = false) {
        guard !finished else { return }
        if !transport.isWritable {
            unwritableBytes += encoded.bytes.readableBytes
            if unwritableBytes > session.configuration.maxOutboundBytes {
                perform(session.fail(.slowConsumer, receipt: nil))
                return
            }
        }
        lastWrite = loop.now
        countOut(encoded.bytes.readableBytes, message: message)
        transport.write(encoded.bytes, isText: encoded.isText, shared: encoded.shared)
    }

    // MARK: Timers

    private func scheduleConnectTimeout() {
        let milliseconds = session.configuration.connectTimeoutMilliseconds
        guard milliseconds > 0 else { return }
        connectTimeoutTask = loop.assumeIsolated().scheduleTask(in: .milliseconds(Int64(milliseconds))) { [weak self] in
            guard let self, !self.finished, self.session.state == .awaitingConnect || self.session.state == .authenticating else { return }
            self.perform(self.session.fail(.connectTimeout(seconds: Double(milliseconds) / 1000), receipt: nil))
        }
    }

    /// `sendEvery` and `expectEvery` are milliseconds, at most `StompHeartbeat.maxMilliseconds`.
    private func startHeartbeats(sendEvery: Int, expectEvery: Int) {
        if sendEvery > 0 {
            scheduleSendBeat(every: .milliseconds(Int64(sendEvery)))
        }
        if expectEvery > 0 {
            let tolerance = max(session.configuration.heartbeatTolerance, 1)
            let limit = TimeAmount.milliseconds(Int64(min(Double(expectEvery) * tolerance, Double(StompHeartbeat.maxMilliseconds) * 4)))
            scheduleReceiveCheck(every: .milliseconds(Int64(max(expectEvery / 4, 10))), limit: limit)
        }
    }

    /// Sends an EOL whenever `interval` passes without any other output. The timer is aimed
    /// at the moment the interval since the last write runs out, so a write just after a beat
    /// never stretches the silence towards twice the interval.
    private func scheduleSendBeat(every interval: TimeAmount) {
        let due = lastWrite + interval
        let delay = max(due - loop.now, .milliseconds(1))
        sendBeatTask = loop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, !self.finished else { return }
            if self.loop.now - self.lastWrite >= interval - .milliseconds(1) {
                self.lastWrite = self.loop.now
                self.countOut(1, message: false)
                self.transport.write(ByteBuffer(string: "\n"), isText: true)
                self.transport.flush()
            }
            self.scheduleSendBeat(every: interval)
        }
    }

    /// Drops a client from which nothing arrived for its interval times the tolerance.
    private func scheduleReceiveCheck(every interval: TimeAmount, limit: TimeAmount) {
        receiveCheckTask = loop.assumeIsolated().scheduleTask(in: interval) { [weak self] in
            guard let self, !self.finished else { return }
            if self.loop.now - self.lastReceived > limit {
                self.perform(self.session.fail(.heartbeatTimeout, receipt: nil))
                return
            }
            self.scheduleReceiveCheck(every: interval, limit: limit)
        }
    }

    /// Stops timers and leaves the shard; the session has already released its hub state.
    private func finish() {
        guard !finished else { return }
        finished = true
        connectTimeoutTask?.cancel()
        sendBeatTask?.cancel()
        receiveCheckTask?.cancel()
        expiryTask?.cancel()
        expiryTask = nil
        client = nil
        connectTimeoutTask = nil
        sendBeatTask = nil
        receiveCheckTask = nil
        parser = StompParser(limits: session.configuration.limits)  // frees buffered input
        counters.open -= 1
        shard.unregister(id)
        session.configuration.logger.info(
            "connection closed",
            metadata: [
                "connection": "\(session.sessionName)", "transport": "\(label.transport)", "address": "\(label.address ?? "-")",
                "user": "\(session.principal.user ?? "-")", "kind": "\(session.principal.kind)",
                "duration_ms": .stringConvertible((loop.now - openedAt).nanoseconds / 1_000_000),
                "messages_in": .stringConvertible(traffic.messagesIn), "messages_out": .stringConvertible(traffic.messagesOut),
                "bytes_in": .stringConvertible(traffic.bytesIn), "bytes_out": .stringConvertible(traffic.bytesOut),
                "reason": "\(closeReason ?? "closed")",
            ]
        )
    }

    /// Counts an ERROR (and the limit it reports) on the shard, and logs it at `notice`:
    /// operators see every protocol error and limit hit with the connection's id.
    private func record(_ error: StompError) {
        if closeReason == nil { closeReason = error.message }
        shard.record(error)
        var metadata: Logger.Metadata = ["connection": "\(session.sessionName)", "transport": "\(label.transport)", "error": "\(error.message)"]
        if let limit = error.limit { metadata["limit"] = "\(limit)" }
        switch error {
        case .serverShuttingDown, .disconnectedByAdministrator:
            session.configuration.logger.info("session ended", metadata: metadata)
        default:
            metadata["detail"] = "\(error.detail.prefix(300))"
            session.configuration.logger.notice("protocol error", metadata: metadata)
        }
    }
}

@available(*, unavailable)
extension StompConnection: Sendable {}
