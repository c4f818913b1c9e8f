import NIOCore
import NIOEmbedded
import Testing
@testable import Hub

/// `StompSession` driven directly: no sockets, no hub, no timers.
@Suite struct StompSessionTests {
    private static func session(_ configure: (inout HubConfiguration) -> Void = { _ in }) -> StompSession {
        var configuration = HubConfiguration()
        configure(&configuration)
        return StompSession(configuration: configuration, sessionName: "s-1")
    }

    private static func connected(_ version: String = "1.2", _ configure: (inout HubConfiguration) -> Void = { _ in }) -> StompSession {
        var session = session(configure)
        _ = Self.receive(&session, StompFrame(.connect, headers: ["accept-version": version, "host": "h"]))
        return session
    }

    /// Hands a frame to the session and answers its gatekeeper questions at once, as
    /// `StompConnection` does with a gatekeeper that decides synchronously.
    private static func receive(_ session: inout StompSession, _ frame: StompFrame) -> [StompSession.Action] {
        resolve(&session, session.receive(frame), gatekeeper: session.gatekeeper)
    }

    private static func resolve(_ session: inout StompSession, _ actions: [StompSession.Action], gatekeeper: any StompGatekeeper) -> [StompSession.Action] {
        var result: [StompSession.Action] = []
        for action in actions {
            switch action {
            case .authenticate(let headers):
                let request = StompConnectRequest(headers: headers, sessionName: session.sessionName, client: nil, eventLoop: loop)
                guard case .decided(let decision) = gatekeeper.authenticate(request) else { fatalError("pending in a unit test") }
                result += resolve(&session, session.authenticated(decision), gatekeeper: gatekeeper)
            case .review(let review):
                let request = StompReview(principal: session.principal, sessionName: session.sessionName, action: review, eventLoop: loop)
                guard case .decided(let decision) = gatekeeper.review(request) else { fatalError("pending in a unit test") }
                result += resolve(&session, session.reviewed(decision), gatekeeper: gatekeeper)
            default:
                result.append(action)
            }
        }
        return result
    }

    private static let loop = EmbeddedEventLoop()

    private static func message(_ id: String, _ destination: String = "/queue/jobs", body: String = "x") -> HubMessage {
        HubMessage(id: id, destination: Destination(destination)!, headers: [:], body: ByteBuffer(string: body))
    }

    private static func error(_ actions: [StompSession.Action]) -> StompError? {
        for case .fail(let error, _) in actions { return error }
        return nil
    }

    private static func writes(_ actions: [StompSession.Action]) -> [StompFrame] {
        actions.compactMap { if case .write(let frame) = $0 { return frame } else { return nil } }
    }

    // MARK: Connect and heart-beats

    @Test func connectNegotiatesAndAnswers() {
        var session = Self.session()
        let actions = Self.receive(&session, StompFrame(.connect, headers: ["accept-version": "1.0,1.1", "heart-beat": "0,5000", "receipt": "c"]))
        let frames = Self.writes(actions)
        #expect(frames.first?.command == .connected)
        #expect(frames.first?.headers["version"] == "1.1")
        #expect(frames.last?.headers["receipt-id"] == "c")
        #expect(session.state == .connected(.v1_1))
        guard case .startHeartbeats(let send, let expect) = actions[1] else { Issue.record("no heart-beats"); return }
        #expect(send == 10_000 && expect == 0)
    }

    /// STOMP 1.2 "Heart-beating": max of both sides when both want it, else 0; client numbers
    /// beyond a day are clamped (fault 1: 9223372036854775807 trapped the timer arithmetic).
    @Test(arguments: [
        ("0,0", 0, 0), ("1000,1000", 10_000, 10_000), ("20000,0", 0, 20_000), ("0,30000", 30_000, 0),
        ("9223372036854775807,0", 0, StompHeartbeat.maxMilliseconds),
        ("0,9223372036854775807", StompHeartbeat.maxMilliseconds, 0),
        ("4611686018427387904,4611686018427387904", StompHeartbeat.maxMilliseconds, StompHeartbeat.maxMilliseconds),
        ("99999999999999999999999999,1", 10_000, StompHeartbeat.maxMilliseconds),
    ])
    func heartbeatTable(header: String, sends: Int, expects: Int) throws {
        let agreement = try StompHeartbeat.negotiate(header: header, serverSend: 10_000, serverReceive: 10_000)
        #expect(agreement.serverSends == sends)
        #expect(agreement.serverExpects == expects)
    }

    @Test(arguments: ["", "1", "1,2,3", "-1,0", "a,b", "1 0,0", ","])
    func badHeartbeatsAreRefused(header: String) {
        var session = Self.session()
        let actions = Self.receive(&session, StompFrame(.connect, headers: ["accept-version": "1.2", "heart-beat": header]))
        #expect(Self.error(actions) == .invalidHeader("heart-beat", value: header))
        #expect(session.isClosed)
    }

    // MARK: Errors

    @Test func everyErrorCase() {
        var session = Self.session()
        #expect(Self.error(Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/a"]))) == .notConnected("SEND"))
        session = Self.session()
        #expect(Self.error(Self.receive(&session, StompFrame(.connect, headers: ["accept-version": "2.0"]))) == .unsupportedVersion("2.0"))
        session = Self.session { $0.gatekeeper = TestGatekeeper(authenticateWith: { _ in .failure(.unauthorized) }) }
        #expect(Self.error(Self.receive(&session, StompFrame(.connect, headers: ["login": "u", "passcode": "p"]))) == .unauthorized)

        let cases: [(StompFrame, StompError)] = [
            (StompFrame(.connect), .alreadyConnected),
            (StompFrame(.send), .missingHeader("destination", in: .send)),
            (StompFrame(.send, headers: ["destination": "/nowhere"]), .invalidDestination("/nowhere")),
            (StompFrame(.subscribe, headers: ["destination": "/topic/a"]), .missingHeader("id", in: .subscribe)),
            (StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1", "ack": "sometimes"]), .invalidHeader("ack", value: "sometimes")),
            (StompFrame(.unsubscribe, headers: ["id": "9"]), .unknownSubscription("9")),
            (StompFrame(.commit, headers: ["transaction": "t"]), .unknownTransaction("t")),
            (StompFrame(.abort, headers: ["transaction": "t"]), .unknownTransaction("t")),
            (StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "t"]), .unknownTransaction("t")),
            (StompFrame(.ack), .missingHeader("id", in: .ack)),
            (StompFrame(.message), .unknownCommand("MESSAGE")),
        ]
        for (frame, expected) in cases {
            var session = Self.connected()
            #expect(Self.error(Self.receive(&session, frame)) == expected, "\(frame.command)")
            #expect(session.isClosed)
        }
        var duplicate = Self.connected()
        _ = Self.receive(&duplicate, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"]))
        #expect(Self.error(Self.receive(&duplicate, StompFrame(.subscribe, headers: ["destination": "/topic/b", "id": "1"]))) == .duplicateSubscription("1"))
        var transaction = Self.connected()
        _ = Self.receive(&transaction, StompFrame(.begin, headers: ["transaction": "t"]))
        #expect(Self.error(Self.receive(&transaction, StompFrame(.begin, headers: ["transaction": "t"]))) == .duplicateTransaction("t"))
        var refused = Self.connected { $0.gatekeeper = TestGatekeeper(allowsWith: { _, _, _ in false }) }
        #expect(
            Self.error(Self.receive(&refused, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"])))
                == .permissionDenied("subscribe to", destination: "/topic/a")
        )
    }

    @Test func errorsCarryTheFramesReceipt() {
        var session = Self.connected()
        let actions = Self.receive(&session, StompFrame(.unsubscribe, headers: ["id": "x", "receipt": "77"]))
        guard case .fail(_, let receipt) = actions.last else { Issue.record("no fail"); return }
        #expect(receipt == "77")
    }

    // MARK: Limits

    @Test func subscriptionAndTransactionLimits() {
        var session = Self.connected { $0.maxSubscriptions = 2 }
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"]))
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "2"]))
        #expect(Self.error(Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "3"]))) == .tooManySubscriptions(limit: 2))

        var transactions = Self.connected { $0.maxTransactions = 1 }
        _ = Self.receive(&transactions, StompFrame(.begin, headers: ["transaction": "a"]))
        #expect(Self.error(Self.receive(&transactions, StompFrame(.begin, headers: ["transaction": "b"]))) == .tooManyTransactions(limit: 1))

        // Fault 11: 150 × 1 MiB were held in a transaction never committed.
        var bytes = Self.connected { $0.maxTransactionBytes = 3 << 20 }
        _ = Self.receive(&bytes, StompFrame(.begin, headers: ["transaction": "t"]))
        let mebibyte = ByteBuffer(repeating: 0x61, count: 1 << 20)
        var failure: StompError?
        for _ in 0..<150 where failure == nil {
            failure = Self.error(Self.receive(&bytes, StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "t"], body: mebibyte)))
        }
        #expect(failure?.message == "transaction too large")
        #expect(bytes.bytesInTransactions == 0)  // released with the session
    }

    /// Fault 11: 100 MiB delivered under ack:client and never acknowledged were all held.
    @Test func unacknowledgedMessagesAreBounded() throws {
        var session = Self.connected { $0.maxUnacknowledgedMessages = 3 }
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "s", "ack": "client"]))
        for index in 0..<3 {
            #expect(try session.deliver(Self.message("m\(index)", "/topic/a"), subscription: "s", fromQueue: false) { _, _ in true } == .send(ackID: "m\(index)/s"))
        }
        #expect(throws: StompError.self) {
            _ = try session.deliver(Self.message("m3", "/topic/a"), subscription: "s", fromQueue: false) { _, _ in true }
        }
        var bytes = Self.connected { $0.maxUnacknowledgedBytes = 10 }
        _ = Self.receive(&bytes, StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "s", "ack": "client-individual"]))
        _ = try bytes.deliver(Self.message("a", "/topic/a", body: "12345678"), subscription: "s", fromQueue: false) { _, _ in true }
        #expect(throws: StompError.self) {
            _ = try bytes.deliver(Self.message("b", "/topic/a", body: "123"), subscription: "s", fromQueue: false) { _, _ in true }
        }
    }

    // MARK: Acknowledgements

    @Test func cumulativeAckSettlesEverythingBeforeIt() throws {
        var session = Self.connected()
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client"]))
        for index in 0..<5 { _ = try session.deliver(Self.message("m\(index)"), subscription: "s", fromQueue: true) { _, _ in true } }
        let actions = Self.receive(&session, StompFrame(.ack, headers: ["id": "m2/s"]))
        guard case .settle(let queue, let count) = actions.first else { Issue.record("no settle: \(actions)"); return }
        #expect(queue == "jobs" && count == 3)
        #expect(session.unacknowledged(on: "s") == 2)
        // Acking something already settled changes nothing.
        #expect(Self.receive(&session, StompFrame(.ack, headers: ["id": "m0/s"])).isEmpty)
    }

    @Test func individualAckAndNack() throws {
        var session = Self.connected()
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client-individual"]))
        for index in 0..<3 { _ = try session.deliver(Self.message("m\(index)"), subscription: "s", fromQueue: true) { _, _ in true } }
        _ = Self.receive(&session, StompFrame(.ack, headers: ["id": "m1/s"]))
        #expect(session.unacknowledged(on: "s") == 2)
        let nack = Self.receive(&session, StompFrame(.nack, headers: ["id": "m2/s"]))
        guard case .requeue(let messages, let subscription, _) = nack.first else { Issue.record("no requeue"); return }
        #expect(messages.map(\.id) == ["m2"] && subscription == "s")
        #expect(session.unacknowledged(on: "s") == 1)
    }

    @Test func version11And10AckByMessageID() throws {
        var v11 = Self.connected("1.1")
        _ = v11.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client-individual"]))
        _ = try v11.deliver(Self.message("m1"), subscription: "s", fromQueue: true) { _, _ in true }
        _ = v11.receive(StompFrame(.ack, headers: ["message-id": "m1", "subscription": "s"]))
        #expect(v11.unacknowledged(on: "s") == 0)

        var v10 = Self.connected("1.0")
        _ = v10.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "ack": "client"]))
        _ = try v10.deliver(Self.message("m1"), subscription: "/queue/jobs", fromQueue: true) { _, _ in true }
        _ = v10.receive(StompFrame(.ack, headers: ["message-id": "m1"]))
        #expect(v10.unacknowledged(on: "/queue/jobs") == 0)
    }

    @Test func transactionsHoldSendsAndAcksUntilCommit() throws {
        var session = Self.connected()
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client-individual"]))
        _ = try session.deliver(Self.message("m1"), subscription: "s", fromQueue: true) { _, _ in true }
        #expect(Self.writes(Self.receive(&session, StompFrame(.begin, headers: ["transaction": "t", "receipt": "b"]))).first?.command == .receipt)
        #expect(Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "t"])).isEmpty)
        #expect(Self.receive(&session, StompFrame(.ack, headers: ["id": "m1/s", "transaction": "t"])).isEmpty)
        #expect(session.unacknowledged(on: "s") == 1)
        let commit = Self.receive(&session, StompFrame(.commit, headers: ["transaction": "t", "receipt": "c"]))
        #expect(commit.count == 3)
        guard case .publish(let destination, _, _, nil) = commit[0], case .settle = commit[1] else { Issue.record("\(commit)"); return }
        #expect(destination.description == "/topic/a")
        #expect(Self.writes(commit).last?.headers["receipt-id"] == "c")
        #expect(session.unacknowledged(on: "s") == 0)
        // ABORT drops what the transaction held.
        _ = Self.receive(&session, StompFrame(.begin, headers: ["transaction": "u"]))
        _ = Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "u"]))
        #expect(Self.receive(&session, StompFrame(.abort, headers: ["transaction": "u"])).isEmpty)
        #expect(session.bytesInTransactions == 0)
    }

    @Test func disconnectAnswersItsReceiptThenReleasesAndCloses() throws {
        var session = Self.connected()
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client"]))
        _ = try session.deliver(Self.message("m1"), subscription: "s", fromQueue: true) { _, _ in true }
        let actions = Self.receive(&session, StompFrame(.disconnect, headers: ["receipt": "bye"]))
        guard actions.count == 3, case .write(let receipt) = actions[0], case .unsubscribe(_, _, let returned, _) = actions[1], case .close = actions[2] else {
            Issue.record("\(actions)")
            return
        }
        #expect(receipt.headers["receipt-id"] == "bye")
        #expect(returned.map(\.id) == ["m1"])
    }

    // MARK: Delivery rules

    /// Fault 10: with subscribe rights on `/topic/*` only, `/topic/#` must not deliver
    /// `/topic/admin.secret`.
    @Test func patternSubscriptionsDeliverOnlyWhatThePrincipalMayRead() throws {
        var session = Self.connected()
        _ = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/topic/#", "id": "p"]))
        let mayRead: (Principal, Destination) -> Bool = { _, destination in destination.words.count == 1 }
        #expect(try session.deliver(Self.message("1", "/topic/news"), subscription: "p", fromQueue: false, mayRead: mayRead) == .send(ackID: nil))
        #expect(try session.deliver(Self.message("2", "/topic/admin.secret"), subscription: "p", fromQueue: false, mayRead: mayRead) == .forbidden)
        #expect(try session.deliver(Self.message("3", "/topic/news"), subscription: "gone", fromQueue: false, mayRead: mayRead) == .skip)
    }

    /// Fault 12: headers that differ from the hub's own only by case or whitespace never pass.
    @Test func reservedLookingHeadersAreDropped() {
        var session = Self.connected()
        let actions = Self.receive(&session, StompFrame(.send, headers: [
            "destination": "/topic/a", "Destination": "/topic/evil", " destination": "/topic/evil", "destination ": "/topic/evil",
            "MESSAGE-ID": "forged", "Content-Length": "1", "content-length\t": "1", "Subscription": "x", "ACK": "y",
            "Content-Type": "text/evil", "content-type": "text/plain", "x-custom": "kept",
        ]))
        guard case .publish(_, let headers, _, _) = actions.first else { Issue.record("no publish"); return }
        #expect(Array(headers.map(\.name)) == ["content-type", "x-custom"])
        #expect(headers["content-type"] == "text/plain")
    }

    /// Found by a review attack: a queue delivery meant for a subscription that was replaced by
    /// a later one with the same id must be refused, or the queue's in-flight count leaks.
    @Test func aReusedSubscriptionIDRefusesDeliveriesForItsPredecessor() throws {
        var session = Self.connected()
        let first = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "1", "ack": "client-individual"]))
        guard case .subscribe(_, _, _, let oldGeneration, _, _) = first.first else { Issue.record("no subscribe"); return }
        _ = Self.receive(&session, StompFrame(.unsubscribe, headers: ["id": "1"]))
        let second = Self.receive(&session, StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "1"]))
        guard case .subscribe(_, _, _, let newGeneration, _, _) = second.first else { Issue.record("no subscribe"); return }
        #expect(oldGeneration != newGeneration)
        #expect(try session.deliver(Self.message("m1"), subscription: "1", generation: oldGeneration, fromQueue: true) { _, _ in true } == .skip)
        #expect(try session.deliver(Self.message("m2"), subscription: "1", generation: newGeneration, fromQueue: true) { _, _ in true } == .send(ackID: nil))
    }

    // MARK: The gatekeeper (issue 9)

    /// CONNECT is held until the gatekeeper answers; CONNECTED names the principal, and every
    /// message the session publishes carries its id, whatever `perigee-*` header the client
    /// tried to set.
    @Test func connectWaitsForTheGatekeeperAndMessagesCarryTheSender() {
        var session = Self.session()
        let asked = session.receive(StompFrame(.connect, headers: ["accept-version": "1.2", "passcode": "t", "receipt": "r"]))
        guard case .authenticate(let headers)? = asked.first, asked.count == 1 else { Issue.record("\(asked)"); return }
        #expect(headers["passcode"] == "t")
        #expect(session.isAwaitingDecision)
        #expect(session.state == .authenticating)
        let answered = Self.writes(session.authenticated(.success(Principal(user: "alice"))))
        #expect(answered.map(\.command) == [.connected, .receipt])
        #expect(answered.first?.headers["perigee-user"] == "alice")
        #expect(!session.isAwaitingDecision)
        let actions = Self.receive(&session, StompFrame(.send, headers: [
            "destination": "/topic/a", "perigee-user": "mallory", "Perigee-User": "mallory", "perigee-anything": "x",
        ]))
        guard case .publish(_, let published, _, _)? = actions.first else { Issue.record("no publish"); return }
        #expect(Array(published.map(\.name)) == ["perigee-user"])
        #expect(published["perigee-user"] == "alice")
    }

    @Test func anonymousMessagesCarryNoSender() {
        var session = Self.connected()
        let actions = Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/a", "perigee-user": "mallory"]))
        guard case .publish(_, let published, _, _)? = actions.first else { Issue.record("no publish"); return }
        #expect(published["perigee-user"] == nil)
    }

    @Test func aRefusedConnectFailsWithTheReason() {
        var session = Self.session()
        _ = session.receive(StompFrame(.connect, headers: ["accept-version": "1.2", "receipt": "r"]))
        let actions = session.authenticated(.failure(.unauthorized("the token has expired")))
        guard case .fail(let error, let receipt)? = actions.last else { Issue.record("\(actions)"); return }
        #expect(error.message == "unauthorized")
        #expect(error.detail.contains("the token has expired"))
        #expect(receipt == "r")
        #expect(session.isClosed)
    }

    private static func reviewing(_ review: @escaping @Sendable (StompReview.Action) -> Result<StompReview.Outcome, StompError>) -> StompSession {
        connected {
            $0.gatekeeper = TestGatekeeper(
                needsReviewWith: { _, _, destination in destination.name.hasPrefix("shouts") },
                reviewWith: review
            )
        }
    }

    /// A reviewed SEND is held, then published as is, replaced, dropped (its RECEIPT still
    /// sent) or refused with the reviewer's reason; destinations not reviewed go straight on.
    @Test func sendReviewAllowsReplacesDropsOrRefuses() {
        var allowed = Self.reviewing { _ in .success(.allow) }
        let held = allowed.receive(StompFrame(.send, headers: ["destination": "/topic/shouts", "receipt": "1"], body: ByteBuffer(string: "hi")))
        guard case .review(.send(let destination, _, let body))? = held.first, held.count == 1 else { Issue.record("\(held)"); return }
        #expect(destination.name == "shouts")
        #expect(String(buffer: body) == "hi")
        let published = allowed.reviewed(.success(.allow))
        guard case .publish(_, _, let sent, "1")? = published.first else { Issue.record("\(published)"); return }
        #expect(String(buffer: sent) == "hi")
        let straight = Self.receive(&allowed, StompFrame(.send, headers: ["destination": "/topic/other"]))
        guard case .publish? = straight.first else { Issue.record("\(straight)"); return }

        var replaced = Self.reviewing { _ in .success(.replace(headers: ["x-id": "7", "perigee-user": "forged"], body: ByteBuffer(string: "HI"))) }
        let rewritten = Self.receive(&replaced, StompFrame(.send, headers: ["destination": "/topic/shouts"], body: ByteBuffer(string: "hi")))
        guard case .publish(_, let headers, let newBody, nil)? = rewritten.first else { Issue.record("\(rewritten)"); return }
        #expect(String(buffer: newBody) == "HI")
        #expect(headers["x-id"] == "7")
        #expect(headers["perigee-user"] == nil)

        var dropped = Self.reviewing { _ in .success(.drop) }
        let receipt = Self.receive(&dropped, StompFrame(.send, headers: ["destination": "/topic/shouts", "receipt": "2"]))
        #expect(Self.writes(receipt).map(\.command) == [.receipt])
        #expect(!receipt.contains { if case .publish = $0 { return true } else { return false } })
        #expect(!dropped.isClosed)

        var refused = Self.reviewing { _ in .failure(.sendRefused("empty shout")) }
        let error = Self.receive(&refused, StompFrame(.send, headers: ["destination": "/topic/shouts", "receipt": "3"]))
        guard case .fail(let failure, "3")? = error.last else { Issue.record("\(error)"); return }
        #expect(failure.message == "send refused")
        #expect(failure.detail.contains("empty shout"))
        #expect(!error.contains { if case .publish = $0 { return true } else { return false } })
    }

    /// A reviewed SEND in a transaction joins it (replaced) and is published at COMMIT.
    @Test func reviewedSendsJoinTheirTransaction() {
        var session = Self.reviewing { _ in .success(.replace(headers: [:], body: ByteBuffer(string: "clean"))) }
        _ = Self.receive(&session, StompFrame(.begin, headers: ["transaction": "t"]))
        let held = Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/shouts", "transaction": "t"], body: ByteBuffer(string: "dirty")))
        #expect(held.isEmpty)
        let commit = Self.receive(&session, StompFrame(.commit, headers: ["transaction": "t"]))
        guard case .publish(let destination, _, let body, _)? = commit.first else { Issue.record("\(commit)"); return }
        #expect(destination.name == "shouts")
        #expect(String(buffer: body) == "clean")
        let unknown = Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/shouts", "transaction": "nope"]))
        #expect(Self.error(unknown) == .unknownTransaction("nope"))
    }

    /// The subscribe review is asked once per destination per session; a refusal fails the
    /// session with the SUBSCRIBE's receipt.
    @Test func subscribeReviewIsAskedOncePerDestination() {
        let gatekeeper = TestGatekeeper(needsReviewWith: { _, action, _ in action == .subscribe })
        var session = Self.connected { $0.gatekeeper = gatekeeper }
        let first = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/room", "id": "1", "receipt": "a"]))
        guard case .review(.subscribe(let destination))? = first.first else { Issue.record("\(first)"); return }
        #expect(destination.name == "room")
        let granted = session.reviewed(.success(.allow))
        guard case .subscribe(id: "1", _, _, _, _, _)? = granted.first else { Issue.record("\(granted)"); return }
        #expect(Self.writes(granted).first?.headers["receipt-id"] == "a")
        _ = Self.receive(&session, StompFrame(.unsubscribe, headers: ["id": "1"]))
        let again = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/room", "id": "2"]))
        guard case .subscribe(id: "2", _, _, _, _, _)? = again.first else { Issue.record("asked again: \(again)"); return }

        let refused = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/vault", "id": "3", "receipt": "b"]))
        guard case .review? = refused.first else { Issue.record("\(refused)"); return }
        let failed = session.reviewed(.failure(.permissionDenied("subscribe to", destination: "/topic/vault", reason: "members only")))
        guard case .fail(let error, "b")? = failed.last else { Issue.record("\(failed)"); return }
        #expect(error.message == "permission denied")
        #expect(error.detail.contains("members only"))
    }

    /// Answers that arrive after the session ended change nothing.
    @Test func lateAnswersAreIgnored() {
        var session = Self.session()
        _ = session.receive(StompFrame(.connect, headers: ["accept-version": "1.2"]))
        _ = session.transportClosed()
        #expect(session.authenticated(.success(.anonymous)).isEmpty)
        #expect(session.reviewed(.success(.allow)).isEmpty)
        #expect(!session.isAwaitingDecision)
    }

    /// Found in review: a header value with CR LF (decoded from a 1.1+ escape) reached STOMP
    /// 1.0 subscribers raw — "\r\n" is one Character and slipped past a Character filter — so
    /// an anonymous sender could add headers (a forged `perigee-user`) or whole frames. The
    /// value passes (STOMP 1.1+ may carry escaped line breaks), but the 1.0 encoder strips CR,
    /// LF and NUL bytes and every version drops NUL, which no escape can express.
    @Test func headerValuesCannotBreakAFrame() {
        var session = Self.connected()
        let actions = Self.receive(&session, StompFrame(.send, headers: ["destination": "/topic/a", "x-crlf": "x\r\nperigee-user:admin"]))
        guard case .publish(_, let headers, _, _)? = actions.first else { Issue.record("no publish"); return }
        #expect(headers["x-crlf"] == "x\r\nperigee-user:admin")
        let frame = StompFrame(.message, headers: ["x": "a\r\nperigee-user:admin\u{0}"])
        let v10 = String(buffer: StompEncoder.encode(frame, version: .v1_0))
        #expect(v10 == "MESSAGE\nx:aperigee-user:admin\n\n\u{0}")
        let v12 = String(buffer: StompEncoder.encode(frame, version: .v1_2))
        #expect(v12 == "MESSAGE\nx:a\\r\\nperigee-user\\cadmin\n\n\u{0}")
    }
}
