import NIOCore

/// The STOMP 1.0–1.2 session state machine: CONNECT negotiation, subscriptions, the ack
/// ledger, transactions and receipts. It takes frames and events and returns what must be done
/// as `Action`s; it never does I/O, never touches the hub and owns no timer, so it is
/// unit-tested directly. `StompConnection` drives it for a transport.
///
/// Every limit a client can run into is enforced here and answered with one `StompError`
/// (STOMP 1.2 "ERROR": the server closes after sending it).
public struct StompSession {
    /// What the driver must do, in order.
    public enum Action {
        /// Send a frame (CONNECTED, RECEIPT) to the client.
        case write(StompFrame)
        /// Publish a message built from a SEND; answer `receipt` (when set) once published.
        case publish(destination: Destination, headers: StompHeaders, body: ByteBuffer, receipt: String?)
        /// Register a subscription with the hub. `generation` tells this subscription from an
        /// earlier one that used the same id (a queue delivery meant for that one is refused).
        /// With `replay` (`perigee-since`, `perigee-history`), the driver answers the SUBSCRIBE's
        /// receipt (`ReplayRequest.receipt`) itself, once the topic's owner has answered, then
        /// delivers the replay before any live message. `presenceEvents`: the subscription
        /// asked for join and leave MESSAGEs (`perigee-presence:true`).
        case subscribe(id: String, destination: Destination, ack: StompAckMode, generation: UInt64, replay: ReplayRequest?, presenceEvents: Bool)
        /// Remove a subscription from the hub and give back the queue messages it held
        /// unacknowledged.
        case unsubscribe(id: String, destination: Destination, returned: [HubMessage], generation: UInt64)
        /// Queue messages the client settled with ACK (`count` per queue name): their owner stops
        /// counting them as in flight.
        case settle(queue: String, count: Int)
        /// Queue messages the client refused with NACK: back to their queue, preferably to
        /// another consumer than `subscription` (of `generation`).
        case requeue([HubMessage], subscription: String, generation: UInt64)
        /// Start heart-beating: send a beat after `sendEvery` ms of silence, expect input every
        /// `expectEvery` ms (0: off).
        case startHeartbeats(sendEvery: Int, expectEvery: Int)
        /// Send ERROR (with `receipt-id` when `receipt` is set) and close the connection. The
        /// session has already released what it held (the `unsubscribe` actions before this).
        case fail(StompError, receipt: String?)
        /// Flush and close (after DISCONNECT and its RECEIPT).
        case close
        /// Ask the gatekeeper who this CONNECT is (`StompGatekeeper.authenticate`) and hand the
        /// answer to `authenticated(_:)`. No further frame is taken until then.
        case authenticate(StompHeaders)
        /// Ask the gatekeeper to review a SUBSCRIBE or SEND (`StompGatekeeper.review`) and hand
        /// the answer to `reviewed(_:)`. No further frame is taken until then.
        case review(StompReview.Action)
    }

    /// The outcome of offering a message to a subscription.
    public enum Delivery: Equatable {
        /// The subscription is gone (or the session closed): skip it.
        case skip
        /// Send it; `ackID` is set when the client must acknowledge it (the 1.2 `ack` header
        /// carries it only in 1.2).
        case send(ackID: String?)
        /// The pattern subscription may not see this destination: skip silently.
        case forbidden
    }

    private struct Subscription {
        var destination: Destination
        var ack: StompAckMode
        var generation: UInt64
        var presenceEvents: Bool
    }

    /// What a SUBSCRIBE asked for besides its destination and ack mode.
    private struct SubscribeExtras {
        /// Nil without `perigee-since` and `perigee-history` (even `perigee-history:0` asks for
        /// the RECEIPT's position).
        var replay: ReplayRequest?
        var receipt: String?
        var presenceEvents: Bool
    }

    private struct Transaction {
        var frames: [StompFrame] = []
        var bytes = 0
    }

    public enum State: Equatable {
        case awaitingConnect
        /// CONNECT arrived; the gatekeeper has not yet said who the client is.
        case authenticating
        case connected(StompVersion)
        case closed
    }

    /// A frame held until the gatekeeper decides.
    private enum Awaiting {
        case connect(StompVersion, StompHeartbeat.Agreement, receipt: String?)
        case subscribe(id: String, destination: Destination, ack: StompAckMode, extras: SubscribeExtras)
        case send(StompFrame, destination: Destination, receipt: String?)
    }

    public private(set) var state: State = .awaitingConnect
    public private(set) var principal: Principal
    public let sessionName: String
    /// The hub's settings when the session was created; a reload does not change them.
    let configuration: HubConfiguration
    private var subscriptions: [String: Subscription] = [:]
    private var ledger = StompAckLedger()
    private var transactions: [String: Transaction] = [:]
    private var transactionBytes = 0
    private var lastGeneration: UInt64 = 0
    private var awaiting: Awaiting?
    /// Destinations the gatekeeper's review allowed this session to subscribe to (asked once
    /// each, up to `maxSubscriptions` of them).
    private var reviewedSubscriptions: Set<String> = []
    var gatekeeper: any StompGatekeeper { configuration.gatekeeper }

    /// - Parameter principal: who the transport already authenticated (an HTTP bearer key);
    ///   CONNECT credentials may replace it.
    public init(configuration: HubConfiguration, principal: Principal = .anonymous, sessionName: String) {
        self.configuration = configuration
        self.principal = principal
        self.sessionName = sessionName
    }

    /// The negotiated version (1.2 until CONNECT is answered, for ERROR frames).
    public var version: StompVersion {
        if case .connected(let version) = state { return version }
        return .v1_2
    }

    public var isClosed: Bool { state == .closed }

    /// A frame waits for the gatekeeper (`authenticate` or `review` was returned and not yet
    /// answered): the driver must not hand over further frames until it is answered.
    public var isAwaitingDecision: Bool { awaiting != nil }

    /// Messages awaiting acknowledgement on a subscription.
    public func unacknowledged(on subscription: String) -> Int { ledger.count(of: subscription) }

    /// The destination of each subscription, sorted (for operators: the admin API).
    public var subscribedDestinations: [String] {
        subscriptions.values.map(\.destination.description).sorted()
    }

    /// Ends every subscription to `destination` (its `description`, as `subscribedDestinations`
    /// lists it) without telling the client: an operator's unsubscribe. STOMP has no frame for
    /// it; deliveries simply stop, and a later UNSUBSCRIBE of the id gets ERROR
    /// `unknown subscription`.
    public mutating func revoke(destination: String) -> [Action] {
        guard !isClosed else { return [] }
        let ended = subscriptions.filter { $0.value.destination.description == destination }.sorted { $0.key < $1.key }
        for (id, _) in ended { subscriptions[id] = nil }
        return ended.map { detach($0.key, $0.value) }
    }

    /// Body bytes of all open transactions.
    public var bytesInTransactions: Int { transactionBytes }

    // MARK: Frames

    /// Handles one client frame.
    public mutating func receive(_ frame: StompFrame) -> [Action] {
        guard !isClosed else { return [] }
        guard awaiting == nil else {
            assertionFailure("a frame was handed over while another awaits the gatekeeper")
            return fail(.authorizationUnavailable("a frame arrived before the previous one was decided"), receipt: nil)
        }
        do throws(StompError) {
            return try handle(frame)
        } catch {
            return fail(error, receipt: frame.headers["receipt"])
        }
    }

    private mutating func handle(_ frame: StompFrame) throws(StompError) -> [Action] {
        guard case .connected(let version) = state else {
            guard frame.command == .connect || frame.command == .stomp else {
                throw .notConnected(frame.command.rawValue)
            }
            return try connect(frame)
        }
        switch frame.command {
        case .connect, .stomp:
            throw .alreadyConnected
        case .send:
            return try send(frame)
        case .subscribe:
            return try subscribe(frame, version: version)
        case .unsubscribe:
            return try unsubscribe(frame, version: version) + receipt(for: frame)
        case .ack, .nack:
            if let transaction = frame.headers["transaction"] {
                try add(frame, to: transaction)
                return receipt(for: frame)
            }
            return try acknowledge(frame, version: version) + receipt(for: frame)
        case .begin:
            let transaction = try required("transaction", frame)
            guard transactions[transaction] == nil else { throw .duplicateTransaction(transaction) }
            guard transactions.count < configuration.maxTransactions else {
                throw .tooManyTransactions(limit: configuration.maxTransactions)
            }
            transactions[transaction] = Transaction()
            return receipt(for: frame)
        case .commit:
            let transaction = try required("transaction", frame)
            guard let open = transactions.removeValue(forKey: transaction) else { throw .unknownTransaction(transaction) }
            transactionBytes -= open.bytes
            var actions: [Action] = []
            for queued in open.frames {
                if queued.command == .send {
                    actions.append(try publishAction(queued, receipt: nil))
                } else {
                    actions += try acknowledge(queued, version: version)
                }
            }
            return actions + receipt(for: frame)
        case .abort:
            let transaction = try required("transaction", frame)
            guard let open = transactions.removeValue(forKey: transaction) else { throw .unknownTransaction(transaction) }
            transactionBytes -= open.bytes
            return receipt(for: frame)
        case .disconnect:
            let actions = receipt(for: frame)
            return actions + release() + [.close]
        case .connected, .message, .receipt, .error:
            throw .unknownCommand(frame.command.rawValue)
        }
    }

    private mutating func connect(_ frame: StompFrame) throws(StompError) -> [Action] {
        guard let version = StompVersion.negotiate(acceptVersion: frame.headers["accept-version"]) else {
            throw .unsupportedVersion(frame.headers["accept-version"] ?? "")
        }
        var agreement = StompHeartbeat.Agreement(serverSends: 0, serverExpects: 0)
        if version >= .v1_1 {
            agreement = try StompHeartbeat.negotiate(
                header: frame.headers["heart-beat"],
                serverSend: configuration.heartbeatSendMilliseconds,
                serverReceive: configuration.heartbeatReceiveMilliseconds
            )
        }
        state = .authenticating
        awaiting = .connect(version, agreement, receipt: frame.headers["receipt"])
        return [.authenticate(frame.headers)]
    }

    /// The gatekeeper's answer to `.authenticate`: CONNECTED (with `perigee-user` when the
    /// principal has an id), or ERROR and close.
    public mutating func authenticated(_ result: Result<Principal, StompError>) -> [Action] {
        guard !isClosed, case .connect(let version, let agreement, let receipt)? = awaiting else { return [] }
        awaiting = nil
        let principal: Principal
        switch result {
        case .failure(let error): return fail(error, receipt: receipt)
        case .success(let authenticated): principal = authenticated
        }
        self.principal = principal
        state = .connected(version)
        var headers: StompHeaders = ["version": version.rawValue]
        headers.add("server", configuration.serverName)
        headers.add("session", sessionName)
        if version >= .v1_1 {
            headers.add("heart-beat", "\(configuration.heartbeatSendMilliseconds),\(configuration.heartbeatReceiveMilliseconds)")
        }
        if let user = principal.user { headers.add(HubMessage.senderHeader, user) }
        var actions: [Action] = [
            .write(StompFrame(.connected, headers: headers)),
            .startHeartbeats(sendEvery: agreement.serverSends, expectEvery: agreement.serverExpects),
        ]
        if let receipt { actions.append(.write(StompFrame(.receipt, headers: ["receipt-id": receipt]))) }
        return actions
    }

    /// The gatekeeper's answer to `.review`: the held SUBSCRIBE or SEND goes ahead (perhaps
    /// replaced, or dropped with its RECEIPT), or the session fails with the refusal.
    public mutating func reviewed(_ result: Result<StompReview.Outcome, StompError>) -> [Action] {
        guard !isClosed, let held = awaiting else { return [] }
        switch held {
        case .connect:
            return []
        case .subscribe(let id, let destination, let ack, let extras):
            awaiting = nil
            guard case .success = result else { return failure(of: result, receipt: extras.receipt) }
            if reviewedSubscriptions.count < configuration.maxSubscriptions {
                reviewedSubscriptions.insert(destination.description)
            }
            return register(id, destination, ack, extras)
        case .send(let frame, let destination, let receipt):
            awaiting = nil
            let outcome: StompReview.Outcome
            switch result {
            case .failure(let error): return fail(error, receipt: receipt)
            case .success(let decided): outcome = decided
            }
            let approved: StompFrame
            switch outcome {
            case .allow:
                approved = frame
            case .drop:
                return self.receipt(receipt)
            case .replace(let headers, let body):
                var replaced: StompHeaders = ["destination": destination.description]
                if let transaction = frame.headers["transaction"] { replaced.add("transaction", transaction) }
                for (name, value) in headers { replaced.add(name, value) }
                approved = StompFrame(.send, headers: replaced, body: body)
            }
            do throws(StompError) {
                return try accept(approved, receipt: receipt)
            } catch {
                return fail(error, receipt: receipt)
            }
        }
    }

    private mutating func failure(of result: Result<StompReview.Outcome, StompError>, receipt: String?) -> [Action] {
        guard case .failure(let error) = result else { return [] }
        return fail(error, receipt: receipt)
    }

    private mutating func send(_ frame: StompFrame) throws(StompError) -> [Action] {
        let text = try required("destination", frame)
        guard let destination = Destination(text) else { throw .invalidDestination(text) }
        guard gatekeeper.allows(principal, .send, destination) else { throw .permissionDenied("send to", destination: text) }
        if let transaction = frame.headers["transaction"], transactions[transaction] == nil {
            throw .unknownTransaction(transaction)
        }
        if gatekeeper.needsReview(principal, .send, destination) {
            awaiting = .send(frame, destination: destination, receipt: frame.headers["receipt"])
            return [.review(.send(destination, headers: HubMessage.passThroughHeaders(frame.headers), body: frame.body))]
        }
        return try accept(frame, receipt: frame.headers["receipt"])
    }

    /// An allowed SEND: into its transaction, or published.
    private mutating func accept(_ frame: StompFrame, receipt: String?) throws(StompError) -> [Action] {
        if let transaction = frame.headers["transaction"] {
            try add(frame, to: transaction)
            return self.receipt(receipt)
        }
        return [try publishAction(frame, receipt: receipt)]
    }

    /// The message of a SEND: its pass-through headers, plus `perigee-user` with the sender's
    /// authenticated id (a client-supplied one never passes: `passThroughHeaders`).
    private func publishAction(_ frame: StompFrame, receipt: String?) throws(StompError) -> Action {
        let text = try required("destination", frame)
        guard let destination = Destination(text) else { throw .invalidDestination(text) }
        var headers = HubMessage.passThroughHeaders(frame.headers)
        if let user = principal.user { headers.add(HubMessage.senderHeader, user) }
        return .publish(destination: destination, headers: headers, body: frame.body, receipt: receipt)
    }

    private mutating func subscribe(_ frame: StompFrame, version: StompVersion) throws(StompError) -> [Action] {
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
        guard subscriptions.count < configuration.maxSubscriptions else {
            throw .tooManySubscriptions(limit: configuration.maxSubscriptions)
        }
        guard gatekeeper.allows(principal, .subscribe, destination) else {
            throw .permissionDenied("subscribe to", destination: text)
        }
        let extras = try subscribeExtras(frame)
        if !reviewedSubscriptions.contains(text), gatekeeper.needsReview(principal, .subscribe, destination) {
            awaiting = .subscribe(id: id, destination: destination, ack: ack, extras: extras)
            return [.review(.subscribe(destination))]
        }
        return register(id, destination, ack, extras)
    }

    /// The `perigee-since`, `perigee-history` and `perigee-presence` headers of a SUBSCRIBE.
    /// A `perigee-since` that does not parse is kept as `.malformed` (answered
    /// `perigee-recovered:false`); a `perigee-history` that is not a decimal count fails with
    /// ERROR `invalid header perigee-history` (a count of any size is taken, up to what is kept).
    private func subscribeExtras(_ frame: StompFrame) throws(StompError) -> SubscribeExtras {
        var since = ReplayRequest.Since.none
        if let text = frame.headers[PerigeeHeader.since] {
            since = TopicPosition(text).map { .position($0) } ?? .malformed
        }
        var last = 0
        let history = frame.headers[PerigeeHeader.history]
        if let text = history {
            // Any decimal count; past what a topic may keep, it means all that is kept.
            guard !text.isEmpty, text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else {
                throw .invalidHeader(PerigeeHeader.history, value: text)
            }
            last = text.utf8.count > 9 ? ChannelPolicy.maxHistory : min(Int(text) ?? 0, ChannelPolicy.maxHistory)
        }
        let receipt = frame.headers["receipt"]
        let replay = since == .none && history == nil ? nil : ReplayRequest(since: since, last: last, receipt: receipt)
        return SubscribeExtras(replay: replay, receipt: receipt, presenceEvents: frame.headers[PerigeeHeader.presence] == "true")
    }

    private mutating func register(_ id: String, _ destination: Destination, _ ack: StompAckMode, _ extras: SubscribeExtras) -> [Action] {
        lastGeneration += 1
        let presenceEvents = extras.presenceEvents && !destination.isPattern
        subscriptions[id] = Subscription(destination: destination, ack: ack, generation: lastGeneration, presenceEvents: presenceEvents)
        let action = Action.subscribe(
            id: id, destination: destination, ack: ack, generation: lastGeneration, replay: extras.replay, presenceEvents: presenceEvents
        )
        return extras.replay == nil ? [action] + receipt(extras.receipt) : [action]
    }

    private mutating func unsubscribe(_ frame: StompFrame, version: StompVersion) throws(StompError) -> [Action] {
        let id: String
        if version == .v1_0, frame.headers["id"] == nil {
            id = try required("destination", frame)
        } else {
            id = try required("id", frame)
        }
        guard let subscription = subscriptions.removeValue(forKey: id) else { throw .unknownSubscription(id) }
        return [detach(id, subscription)]
    }

    /// Forgets a removed subscription's ledger and hands back its unacknowledged queue messages.
    private mutating func detach(_ id: String, _ subscription: Subscription) -> Action {
        let returned = ledger.removeAll(of: id).filter(\.fromQueue).map(\.message)
        return .unsubscribe(id: id, destination: subscription.destination, returned: returned, generation: subscription.generation)
    }

    private mutating func acknowledge(_ frame: StompFrame, version: StompVersion) throws(StompError) -> [Action] {
        let ackID: String?
        switch version {
        case .v1_2:
            ackID = try required("id", frame)
        case .v1_1:
            let messageID = try required("message-id", frame)
            let subscription = try required("subscription", frame)
            ackID = Self.ackID(messageID: messageID, subscription: subscription)
        case .v1_0:
            // 1.0 names only the message: it is unacknowledged on at most a few subscriptions.
            let messageID = try required("message-id", frame)
            ackID = subscriptions.keys.lazy.map { Self.ackID(messageID: messageID, subscription: $0) }.first { ledger.contains($0) }
        }
        // An ACK for something already settled (or never sent) changes nothing.
        guard let ackID, let target = ledger.entry(ackID) else { return [] }
        let subscription = subscriptions[target.subscription]
        let mode = subscription?.ack ?? .clientIndividual
        let settled = mode == .client ? ledger.settleCumulatively(ackID) : ledger.settle(ackID)
        let fromQueues = settled.filter(\.fromQueue)
        guard !fromQueues.isEmpty else { return [] }  // topic messages are simply dropped
        if frame.command == .nack {
            return [.requeue(fromQueues.map(\.message), subscription: target.subscription, generation: subscription?.generation ?? 0)]
        }
        var counts: [String: Int] = [:]
        for entry in fromQueues { counts[entry.message.destination.name, default: 0] += 1 }
        return counts.map { .settle(queue: $0.key, count: $0.value) }
    }

    private mutating func add(_ frame: StompFrame, to transaction: String) throws(StompError) {
        guard var open = transactions[transaction] else { throw .unknownTransaction(transaction) }
        guard open.frames.count < configuration.maxFramesPerTransaction else {
            throw .transactionTooLarge("more than \(configuration.maxFramesPerTransaction) frames")
        }
        let size = frame.body.readableBytes + frame.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 2 }
        guard transactionBytes + size <= configuration.maxTransactionBytes else {
            throw .transactionTooLarge("more than \(configuration.maxTransactionBytes) bytes held in open transactions")
        }
        open.frames.append(frame)
        open.bytes += size
        transactionBytes += size
        transactions[transaction] = open
    }

    // MARK: Delivery

    /// Offers a topic or queue message to subscription `id`; on `.send` the ledger holds it
    /// until acknowledged. `mayRead` answers whether the principal may subscribe to a concrete
    /// destination directly: a pattern subscription never delivers what its principal could
    /// not have subscribed to (issue 7, fault 10).
    ///
    /// - Throws: `StompError.tooManyUnacknowledged` when the subscription or the session holds
    ///   its limit of unacknowledged messages; the driver then fails the session.
    ///
    /// - Parameter generation: for a queue delivery, the generation of the subscription the
    ///   queue meant it for; a later subscription that reuses the id refuses it (`.skip`).
    public mutating func deliver(
        _ message: HubMessage,
        subscription id: String,
        generation: UInt64? = nil,
        fromQueue: Bool,
        mayRead: (Principal, Destination) -> Bool
    ) throws(StompError) -> Delivery {
        guard !isClosed, let subscription = subscriptions[id] else { return .skip }
        if let generation, generation != subscription.generation { return .skip }
        if message.presenceEvent != nil, !subscription.presenceEvents { return .skip }
        if subscription.destination.isPattern, !mayRead(principal, message.destination) { return .forbidden }
        guard subscription.ack != .auto else { return .send(ackID: nil) }
        guard ledger.count(of: id) < configuration.maxUnacknowledgedMessages else {
            throw .tooManyUnacknowledged("\(configuration.maxUnacknowledgedMessages) messages on subscription \(id.prefix(64))")
        }
        guard ledger.bytes + message.body.readableBytes <= configuration.maxUnacknowledgedBytes else {
            throw .tooManyUnacknowledged("\(configuration.maxUnacknowledgedBytes) bytes of message bodies")
        }
        let ackID = Self.ackID(messageID: message.id, subscription: id)
        ledger.add(ackID: ackID, subscription: id, message: message, fromQueue: fromQueue)
        return .send(ackID: ackID)
    }

    /// The ack id of a message on a subscription (the 1.2 `ack` header).
    static func ackID(messageID: String, subscription: String) -> String {
        "\(messageID)/\(subscription)"
    }

    // MARK: Events

    /// Fails the session: releases everything, then ERROR and close.
    public mutating func fail(_ error: StompError, receipt: String?) -> [Action] {
        guard !isClosed else { return [] }
        return release() + [.fail(error, receipt: receipt)]
    }

    /// The transport went away: releases everything.
    public mutating func transportClosed() -> [Action] {
        guard !isClosed else { return [] }
        return release()
    }

    /// Ends the session: open transactions abort, subscriptions end and give back their
    /// unacknowledged queue messages.
    private mutating func release() -> [Action] {
        state = .closed
        awaiting = nil
        transactions.removeAll()
        transactionBytes = 0
        let ended = subscriptions.sorted { $0.key < $1.key }
        subscriptions.removeAll()
        return ended.map { detach($0.key, $0.value) }
    }

    // MARK: Helpers

    private func receipt(for frame: StompFrame) -> [Action] {
        receipt(frame.headers["receipt"])
    }

    private func receipt(_ receipt: String?) -> [Action] {
        guard let receipt else { return [] }
        return [.write(StompFrame(.receipt, headers: ["receipt-id": receipt]))]
    }

    private func required(_ header: String, _ frame: StompFrame) throws(StompError) -> String {
        guard let value = frame.headers[header] else { throw .missingHeader(header, in: frame.command) }
        return value
    }
}
