import NIOCore
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
        _ = session.receive(StompFrame(.connect, headers: ["accept-version": version, "host": "h"]))
        return session
    }

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
        let actions = session.receive(StompFrame(.connect, headers: ["accept-version": "1.0,1.1", "heart-beat": "0,5000", "receipt": "c"]))
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
        let actions = session.receive(StompFrame(.connect, headers: ["accept-version": "1.2", "heart-beat": header]))
        #expect(Self.error(actions) == .invalidHeader("heart-beat", value: header))
        #expect(session.isClosed)
    }

    // MARK: Errors

    @Test func everyErrorCase() {
        var session = Self.session()
        #expect(Self.error(session.receive(StompFrame(.send, headers: ["destination": "/topic/a"]))) == .notConnected("SEND"))
        session = Self.session()
        #expect(Self.error(session.receive(StompFrame(.connect, headers: ["accept-version": "2.0"]))) == .unsupportedVersion("2.0"))
        session = Self.session { $0.authenticate = { _, _ in nil } }
        #expect(Self.error(session.receive(StompFrame(.connect, headers: ["login": "u", "passcode": "p"]))) == .unauthorized)

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
            #expect(Self.error(session.receive(frame)) == expected, "\(frame.command)")
            #expect(session.isClosed)
        }
        var duplicate = Self.connected()
        _ = duplicate.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"]))
        #expect(Self.error(duplicate.receive(StompFrame(.subscribe, headers: ["destination": "/topic/b", "id": "1"]))) == .duplicateSubscription("1"))
        var transaction = Self.connected()
        _ = transaction.receive(StompFrame(.begin, headers: ["transaction": "t"]))
        #expect(Self.error(transaction.receive(StompFrame(.begin, headers: ["transaction": "t"]))) == .duplicateTransaction("t"))
        var refused = Self.connected { $0.authorize = { _, _, _ in false } }
        #expect(
            Self.error(refused.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"])))
                == .permissionDenied("subscribe to", destination: "/topic/a")
        )
    }

    @Test func errorsCarryTheFramesReceipt() {
        var session = Self.connected()
        let actions = session.receive(StompFrame(.unsubscribe, headers: ["id": "x", "receipt": "77"]))
        guard case .fail(_, let receipt) = actions.last else { Issue.record("no fail"); return }
        #expect(receipt == "77")
    }

    // MARK: Limits

    @Test func subscriptionAndTransactionLimits() {
        var session = Self.connected { $0.maxSubscriptions = 2 }
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "1"]))
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "2"]))
        #expect(Self.error(session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "3"]))) == .tooManySubscriptions(limit: 2))

        var transactions = Self.connected { $0.maxTransactions = 1 }
        _ = transactions.receive(StompFrame(.begin, headers: ["transaction": "a"]))
        #expect(Self.error(transactions.receive(StompFrame(.begin, headers: ["transaction": "b"]))) == .tooManyTransactions(limit: 1))

        // Fault 11: 150 × 1 MiB were held in a transaction never committed.
        var bytes = Self.connected { $0.maxTransactionBytes = 3 << 20 }
        _ = bytes.receive(StompFrame(.begin, headers: ["transaction": "t"]))
        let mebibyte = ByteBuffer(repeating: 0x61, count: 1 << 20)
        var failure: StompError?
        for _ in 0..<150 where failure == nil {
            failure = Self.error(bytes.receive(StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "t"], body: mebibyte)))
        }
        #expect(failure?.message == "transaction too large")
        #expect(bytes.bytesInTransactions == 0)  // released with the session
    }

    /// Fault 11: 100 MiB delivered under ack:client and never acknowledged were all held.
    @Test func unacknowledgedMessagesAreBounded() throws {
        var session = Self.connected { $0.maxUnacknowledgedMessages = 3 }
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "s", "ack": "client"]))
        for index in 0..<3 {
            #expect(try session.deliver(Self.message("m\(index)", "/topic/a"), subscription: "s", fromQueue: false) { _, _ in true } == .send(ackID: "m\(index)/s"))
        }
        #expect(throws: StompError.self) {
            _ = try session.deliver(Self.message("m3", "/topic/a"), subscription: "s", fromQueue: false) { _, _ in true }
        }
        var bytes = Self.connected { $0.maxUnacknowledgedBytes = 10 }
        _ = bytes.receive(StompFrame(.subscribe, headers: ["destination": "/topic/a", "id": "s", "ack": "client-individual"]))
        _ = try bytes.deliver(Self.message("a", "/topic/a", body: "12345678"), subscription: "s", fromQueue: false) { _, _ in true }
        #expect(throws: StompError.self) {
            _ = try bytes.deliver(Self.message("b", "/topic/a", body: "123"), subscription: "s", fromQueue: false) { _, _ in true }
        }
    }

    // MARK: Acknowledgements

    @Test func cumulativeAckSettlesEverythingBeforeIt() throws {
        var session = Self.connected()
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client"]))
        for index in 0..<5 { _ = try session.deliver(Self.message("m\(index)"), subscription: "s", fromQueue: true) { _, _ in true } }
        let actions = session.receive(StompFrame(.ack, headers: ["id": "m2/s"]))
        guard case .settle(let queue, let count) = actions.first else { Issue.record("no settle: \(actions)"); return }
        #expect(queue == "jobs" && count == 3)
        #expect(session.unacknowledged(on: "s") == 2)
        // Acking something already settled changes nothing.
        #expect(session.receive(StompFrame(.ack, headers: ["id": "m0/s"])).isEmpty)
    }

    @Test func individualAckAndNack() throws {
        var session = Self.connected()
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client-individual"]))
        for index in 0..<3 { _ = try session.deliver(Self.message("m\(index)"), subscription: "s", fromQueue: true) { _, _ in true } }
        _ = session.receive(StompFrame(.ack, headers: ["id": "m1/s"]))
        #expect(session.unacknowledged(on: "s") == 2)
        let nack = session.receive(StompFrame(.nack, headers: ["id": "m2/s"]))
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
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client-individual"]))
        _ = try session.deliver(Self.message("m1"), subscription: "s", fromQueue: true) { _, _ in true }
        #expect(Self.writes(session.receive(StompFrame(.begin, headers: ["transaction": "t", "receipt": "b"]))).first?.command == .receipt)
        #expect(session.receive(StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "t"])).isEmpty)
        #expect(session.receive(StompFrame(.ack, headers: ["id": "m1/s", "transaction": "t"])).isEmpty)
        #expect(session.unacknowledged(on: "s") == 1)
        let commit = session.receive(StompFrame(.commit, headers: ["transaction": "t", "receipt": "c"]))
        #expect(commit.count == 3)
        guard case .publish(let destination, _, _, nil) = commit[0], case .settle = commit[1] else { Issue.record("\(commit)"); return }
        #expect(destination.description == "/topic/a")
        #expect(Self.writes(commit).last?.headers["receipt-id"] == "c")
        #expect(session.unacknowledged(on: "s") == 0)
        // ABORT drops what the transaction held.
        _ = session.receive(StompFrame(.begin, headers: ["transaction": "u"]))
        _ = session.receive(StompFrame(.send, headers: ["destination": "/topic/a", "transaction": "u"]))
        #expect(session.receive(StompFrame(.abort, headers: ["transaction": "u"])).isEmpty)
        #expect(session.bytesInTransactions == 0)
    }

    @Test func disconnectAnswersItsReceiptThenReleasesAndCloses() throws {
        var session = Self.connected()
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "s", "ack": "client"]))
        _ = try session.deliver(Self.message("m1"), subscription: "s", fromQueue: true) { _, _ in true }
        let actions = session.receive(StompFrame(.disconnect, headers: ["receipt": "bye"]))
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
        _ = session.receive(StompFrame(.subscribe, headers: ["destination": "/topic/#", "id": "p"]))
        let mayRead: (Principal, Destination) -> Bool = { _, destination in destination.words.count == 1 }
        #expect(try session.deliver(Self.message("1", "/topic/news"), subscription: "p", fromQueue: false, mayRead: mayRead) == .send(ackID: nil))
        #expect(try session.deliver(Self.message("2", "/topic/admin.secret"), subscription: "p", fromQueue: false, mayRead: mayRead) == .forbidden)
        #expect(try session.deliver(Self.message("3", "/topic/news"), subscription: "gone", fromQueue: false, mayRead: mayRead) == .skip)
    }

    /// Fault 12: headers that differ from the hub's own only by case or whitespace never pass.
    @Test func reservedLookingHeadersAreDropped() {
        var session = Self.connected()
        let actions = session.receive(StompFrame(.send, headers: [
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
        let first = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "1", "ack": "client-individual"]))
        guard case .subscribe(_, _, _, let oldGeneration) = first.first else { Issue.record("no subscribe"); return }
        _ = session.receive(StompFrame(.unsubscribe, headers: ["id": "1"]))
        let second = session.receive(StompFrame(.subscribe, headers: ["destination": "/queue/jobs", "id": "1"]))
        guard case .subscribe(_, _, _, let newGeneration) = second.first else { Issue.record("no subscribe"); return }
        #expect(oldGeneration != newGeneration)
        #expect(try session.deliver(Self.message("m1"), subscription: "1", generation: oldGeneration, fromQueue: true) { _, _ in true } == .skip)
        #expect(try session.deliver(Self.message("m2"), subscription: "1", generation: newGeneration, fromQueue: true) { _, _ in true } == .send(ackID: nil))
    }
}
