import Dispatch
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import Hub

/// Collects frames written on any loop.
final class Collector: StompTransport, @unchecked Sendable {
    let frames = NIOLockedValueBox<[StompFrame]>([])
    func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) {
        var parser = StompParser()
        parser.append(bytes)
        while case .frame(let frame)? = try? parser.parseStep() { frames.withLockedValue { $0.append(frame) } }
    }
    func flush() {}
    var isWritable: Bool { true }
    var carriesTextOnly: Bool { false }
    func close(afterError: Bool) {}
    func abort(farewell: ByteBuffer) {}
    var offsets: [UInt64] {
        frames.withLockedValue { $0.filter { $0.command == .message }.compactMap { $0.headers[PerigeeHeader.offset].flatMap { UInt64($0) } } }
    }
}

/// Issue 11: positions at each topic's ordering point, bounded history, resume with an explicit
/// answer, `perigee-history`, and presence.
@Suite struct TopicHistoryTests {
    final class Transport: StompTransport {
        var frames: [StompFrame] = []
        func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) {
            var parser = StompParser()
            parser.append(bytes)
            while case .frame(let frame)? = try? parser.parseStep() { frames.append(frame) }
        }
        func flush() {}
        var isWritable: Bool { true }
        var carriesTextOnly: Bool { false }
        func close(afterError: Bool) {}
        func abort(farewell: ByteBuffer) {}

        var messages: [StompFrame] { frames.filter { $0.command == .message } }
        var receipts: [StompFrame] { frames.filter { $0.command == .receipt } }
        var bodies: [String] { messages.map { String(buffer: $0.body) } }
        var offsets: [UInt64] { messages.compactMap { $0.headers[PerigeeHeader.offset].flatMap { UInt64($0) } } }
    }

    private struct Fixture {
        let loop = EmbeddedEventLoop()
        let hub: Hub

        init(history: Int = 100, ttl: Int = 0, maxHistoryBytes: Int = 64 << 20, presence: Bool = false) {
            var configuration = HubConfiguration()
            configuration.maxHistoryBytes = maxHistoryBytes
            configuration.channelPolicy = { destination in
                destination.name.hasPrefix("kept") ? ChannelPolicy(history: history, historyTTLSeconds: ttl, presence: presence, joinLeave: presence) : .none
            }
            // A `login` header names the user; without one the session is anonymous.
            var gatekeeper = TestGatekeeper()
            gatekeeper.authenticateWith = { headers in
                guard let user = headers["login"] else { return .success(.anonymous) }
                return .success(Principal(user: user, presence: "{\"name\":\"\(user)\"}"))
            }
            configuration.gatekeeper = gatekeeper
            hub = Hub(group: loop, configuration: configuration)
        }

        /// A connected session whose frames `extra` (after CONNECT) were handed over.
        func connect(login: String? = nil, _ extra: String = "") throws -> (StompConnection, Transport) {
            let sink = Transport()
            let connection = try #require(StompConnection(hub: hub, eventLoop: loop, transport: sink))
            let login = login.map { "login:\($0)\n" } ?? ""
            connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\(login)\n\0" + extra))
            loop.run()
            return (connection, sink)
        }

        func publish(_ bodies: [String], to topic: String) {
            for body in bodies {
                let message = HubMessage(id: "m-\(body)", destination: Destination(topic)!, headers: [:], body: ByteBuffer(string: body))
                hub.post(topicMessage: message, on: loop)
            }
            loop.run()
        }
    }

    private static func subscribe(_ topic: String, id: String = "s", _ headers: [String: String] = [:]) -> String {
        var frame = "SUBSCRIBE\nid:\(id)\ndestination:\(topic)\nreceipt:r-\(id)\n"
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { frame += "\(name):\(value)\n" }
        return frame + "\n\0"
    }

    @Test func everyTopicMessageCarriesItsEpochAndAnIncreasingOffset() throws {
        let fixture = Fixture()
        let (_, sink) = try fixture.connect(Self.subscribe("/topic/plain"))
        fixture.publish(["a", "b", "c"], to: "/topic/plain")
        #expect(sink.offsets == [1, 2, 3])
        let epochs = Set(sink.messages.compactMap { $0.headers[PerigeeHeader.epoch] })
        #expect(epochs.count == 1)
        #expect(epochs.first.map { TopicPosition("\($0):0") != nil } == true)
        // A plain subscription's RECEIPT has no replay headers.
        #expect(sink.receipts.first?.headers[PerigeeHeader.replayed] == nil)
    }

    @Test func resumeReplaysExactlyTheMissedMessagesThenGoesLive() throws {
        let fixture = Fixture()
        let (first, sink) = try fixture.connect(Self.subscribe("/topic/kept"))
        fixture.publish(["1", "2"], to: "/topic/kept")
        let epoch = try #require(sink.messages.last?.headers[PerigeeHeader.epoch])
        first.transportClosed()
        fixture.publish(["3", "4", "5"], to: "/topic/kept")

        let (_, resumed) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.since: "\(epoch):2"]))
        let receipt = try #require(resumed.frames.first { $0.command == .receipt })
        #expect(receipt.headers[PerigeeHeader.recovered] == "true")
        #expect(receipt.headers[PerigeeHeader.replayed] == "3")
        #expect(receipt.headers[PerigeeHeader.epoch] == epoch)
        #expect(receipt.headers[PerigeeHeader.offset] == "5")
        // The RECEIPT comes before the replay.
        #expect(resumed.frames.firstIndex { $0.command == .receipt }! < resumed.frames.firstIndex { $0.command == .message }!)
        fixture.publish(["6"], to: "/topic/kept")
        #expect(resumed.bodies == ["3", "4", "5", "6"])
        #expect(resumed.offsets == [3, 4, 5, 6])
        // Operators see it (`/metrics`: perigee_resumes_total, perigee_topics, perigee_history_bytes).
        let statistics = fixture.hub.statistics(on: fixture.loop)
        fixture.loop.run()
        let counted = try statistics.wait()
        #expect(counted.resumesRecovered == 1 && counted.resumesNotRecovered == 0)
        #expect(counted.topics == 1 && counted.historyBytes > 6 * 160)
    }

    /// Frames after a resuming SUBSCRIBE wait for its replay: a SEND pipelined behind it is
    /// delivered after the missed messages, never among them.
    @Test func framesBehindAResumeWaitForItsReplay() throws {
        let fixture = Fixture()
        let (_, first) = try fixture.connect(Self.subscribe("/topic/kept"))
        fixture.publish(["1", "2", "3"], to: "/topic/kept")
        let epoch = try #require(first.messages.last?.headers[PerigeeHeader.epoch])
        let send = "SEND\ndestination:/topic/kept\nreceipt:sent\n\n4\0"
        let (_, resumed) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.since: "\(epoch):1"]) + send)
        fixture.loop.run()
        #expect(resumed.bodies == ["2", "3", "4"])
        #expect(resumed.receipts.map { $0.headers["receipt-id"] } == ["r-s", "sent"])
    }

    /// While a replay is pending at another loop (here held up on purpose), the session's
    /// later frames stay unparsed: one replay at a time per session.
    @Test func aPendingReplayHoldsTheFramesBehindIt() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let hub = Hub(group: group)
        let loops = Array(group.makeIterator())
        let owner = hub.topicOwner(Destination("/topic/held")!)
        let subscriberLoop = loops[1 - owner]
        let release = DispatchSemaphore(value: 0)
        loops[owner].execute { release.wait() }
        let collector = Collector()
        try subscriberLoop.submit {
            let connection = StompConnection(hub: hub, eventLoop: subscriberLoop, transport: collector)
            connection?.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0"
                + Self.subscribe("/topic/held", id: "a", [PerigeeHeader.since: "zzzz:0"]) + Self.subscribe("/topic/plain", id: "b")))
        }.wait()
        try subscriberLoop.submit {}.wait()
        #expect(collector.frames.withLockedValue { $0.filter { $0.command == .receipt } }.isEmpty)
        release.signal()
        let deadline = NIODeadline.now() + .seconds(10)
        var receipts: [String] = []
        while receipts.count < 2, NIODeadline.now() < deadline {
            try subscriberLoop.submit {}.wait()
            receipts = collector.frames.withLockedValue { $0.filter { $0.command == .receipt }.compactMap { $0.headers["receipt-id"] } }
        }
        #expect(receipts == ["r-a", "r-b"])
    }

    /// An acknowledging subscription may hold `maxUnacknowledgedMessages`: a resume that
    /// would replay more is not recovered (and replays nothing) rather than ending the session.
    @Test func aResumeLargerThanTheUnacknowledgedLimitIsNotRecovered() throws {
        var fixture = Fixture()
        var configuration = fixture.hub.configuration
        configuration.maxUnacknowledgedMessages = 3
        fixture.hub.reconfigure(configuration)
        fixture.loop.run()
        let (_, first) = try fixture.connect(Self.subscribe("/topic/kept"))
        fixture.publish((1...6).map(String.init), to: "/topic/kept")
        let epoch = try #require(first.messages.last?.headers[PerigeeHeader.epoch])
        let (_, fits) = try fixture.connect(Self.subscribe("/topic/kept", id: "a", [PerigeeHeader.since: "\(epoch):3", "ack": "client"]))
        #expect(fits.receipts.first?.headers[PerigeeHeader.recovered] == "true")
        #expect(fits.bodies == ["4", "5", "6"])
        let (_, tooMany) = try fixture.connect(Self.subscribe("/topic/kept", id: "b", [PerigeeHeader.since: "\(epoch):2", "ack": "client"]))
        #expect(tooMany.receipts.first?.headers[PerigeeHeader.recovered] == "false")
        #expect(tooMany.receipts.first?.headers[PerigeeHeader.replayed] == "0")
        fixture.publish(["7"], to: "/topic/kept")
        #expect(tooMany.bodies == ["7"])
        #expect(tooMany.frames.allSatisfy { $0.command != .error })
        _ = fixture
    }

    /// Found by the review attack (F1): reading or subscribing with perigee-history to many
    /// topics that keep no history must create nothing, and never push out another topic's
    /// history.
    @Test func readingTopicsWithoutHistoryCreatesNothingAndEvictsNothing() throws {
        let fixture = Fixture(history: 100, maxHistoryBytes: 64 << 10)
        fixture.publish((1...20).map(String.init), to: "/topic/kept")
        let shard = try #require(fixture.hub.shard(on: fixture.loop))
        var subscribes = ""
        for index in 0..<200 {
            let page = fixture.hub.history(of: Destination("/topic/plain.\(index)")!, since: nil, limit: 0, on: fixture.loop)
            fixture.loop.run()
            #expect(try page.wait().head.epoch == "")
            subscribes += Self.subscribe("/topic/plain.s\(index)", id: "\(index)", [PerigeeHeader.history: "0"])
        }
        let (_, sink) = try fixture.connect(subscribes)
        fixture.loop.run()
        #expect(sink.receipts.count == 200)
        // No head without state: the RECEIPT names no position.
        #expect(sink.receipts.allSatisfy { $0.headers[PerigeeHeader.epoch] == nil && $0.headers[PerigeeHeader.replayed] == "0" })
        #expect(shard.topicCount == 1)
        let (_, reader) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "100"]))
        #expect(reader.bodies == (1...20).map(String.init))
    }

    /// F2: the newest messages that fit a byte bound are found without walking the history.
    @Test func theNewestThatFitAByteBoundAreReplayed() throws {
        let fixture = Fixture(history: 1_000)
        fixture.publish((1...1_000).map { String(10_000 + $0) }, to: "/topic/kept")
        let destination = Destination("/topic/kept")!
        let one = TopicLog.cost(of: HubMessage(id: "m-10001", destination: destination, headers: [:], body: ByteBuffer(string: "10001")))
        let request = ReplayRequest(since: .none, last: 1_000, receipt: nil)
        let page = fixture.hub.replay(destination, request, limit: 1_000, maxBytes: one * 10 + one / 2, create: false, on: fixture.loop)
        fixture.loop.run()
        #expect(try page.wait().messages.map { String(buffer: $0.body) } == (991...1_000).map { String(10_000 + $0) })
        // A resume that would need more than the bound is not recovered.
        let epoch = try page.wait().head.epoch
        let resume = ReplayRequest(since: .position(TopicPosition(epoch: epoch, offset: 900)), last: 0, receipt: nil)
        let failed = fixture.hub.replay(destination, resume, limit: 1_000, maxBytes: one * 10, create: false, on: fixture.loop)
        fixture.loop.run()
        #expect(try failed.wait().recovered == false)
        let fits = ReplayRequest(since: .position(TopicPosition(epoch: epoch, offset: 990)), last: 0, receipt: nil)
        let recovered = fixture.hub.replay(destination, fits, limit: 1_000, maxBytes: one * 10, create: false, on: fixture.loop)
        fixture.loop.run()
        #expect(try recovered.wait().messages.count == 10)
        // Any decimal count is taken (F4): past what is kept, everything kept.
        let (_, all) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "99999999999999999999"]))
        #expect(all.messages.count == 1_000)
    }

    /// F3: presence turned off and on again by reloads: a subscription counted before only
    /// leaves what it joined, so the members counted since stay.
    @Test func presenceSurvivesBeingTurnedOffAndOnAgain() throws {
        let fixture = Fixture(presence: true)
        let (alice1, _) = try fixture.connect(login: "alice", Self.subscribe("/topic/kept"))
        let (anonymous1, _) = try fixture.connect(Self.subscribe("/topic/kept"))
        var configuration = fixture.hub.configuration
        let on = configuration.channelPolicy
        configuration.channelPolicy = { _ in .none }
        fixture.hub.reconfigure(configuration)
        fixture.loop.run()
        configuration.channelPolicy = on
        fixture.hub.reconfigure(configuration)
        fixture.loop.run()
        _ = try fixture.connect(login: "alice", Self.subscribe("/topic/kept"))
        _ = try fixture.connect(Self.subscribe("/topic/kept"))
        alice1.transportClosed()
        anonymous1.transportClosed()
        fixture.loop.run()
        let snapshot = try presence(fixture)
        #expect(snapshot?.members.map(\.user) == ["alice"])
        #expect(snapshot?.members.first?.sessions == 1)
        #expect(snapshot?.anonymous == 1)
    }

    /// Found by the auth suite in a clean clone: a SEND's own subscription must get it before
    /// the RECEIPT of a DISCONNECT right behind it, though the topic's owner is another loop.
    @Test func aDisconnectWaitsForTheSessionsOwnPublishesToComeBack() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        let hub = Hub(group: group)
        let loops = Array(group.makeIterator())
        let owner = hub.topicOwner(Destination("/topic/own")!)
        let sessionLoop = loops[1 - owner]
        let collector = Collector()
        try sessionLoop.submit {
            let connection = StompConnection(hub: hub, eventLoop: sessionLoop, transport: collector)
            connection?.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0" + Self.subscribe("/topic/own")
                + "SEND\ndestination:/topic/own\n\nmine\0DISCONNECT\nreceipt:bye\n\n\0"))
        }.wait()
        let deadline = NIODeadline.now() + .seconds(10)
        var order: [String] = []
        while !order.contains("bye"), NIODeadline.now() < deadline {
            try sessionLoop.submit {}.wait()
            order = collector.frames.withLockedValue { frames in
                frames.compactMap { $0.command == .message ? String(buffer: $0.body) : $0.headers["receipt-id"] }
            }
        }
        #expect(order == ["r-s", "mine", "bye"])
    }

    @Test func resumeAtTheHeadReplaysNothingAndIsRecovered() throws {
        let fixture = Fixture()
        let (_, sink) = try fixture.connect(Self.subscribe("/topic/plain"))
        fixture.publish(["1"], to: "/topic/plain")
        let epoch = try #require(sink.messages.last?.headers[PerigeeHeader.epoch])
        // Without history, a resume is recovered only when nothing was missed.
        let (_, atHead) = try fixture.connect(Self.subscribe("/topic/plain", [PerigeeHeader.since: "\(epoch):1"]))
        #expect(atHead.receipts.first?.headers[PerigeeHeader.recovered] == "true")
        let (_, behind) = try fixture.connect(Self.subscribe("/topic/plain", [PerigeeHeader.since: "\(epoch):0"]))
        #expect(behind.receipts.first?.headers[PerigeeHeader.recovered] == "false")
    }

    @Test(arguments: ["other-epoch", "beyond-bound", "beyond-head", "pattern", "malformed", "queue"])
    func unrecoverableResumesSayFalseAndStillGoLive(_ kind: String) throws {
        let fixture = Fixture(history: 3)
        let (_, sink) = try fixture.connect(Self.subscribe("/topic/kept"))
        fixture.publish((1...10).map(String.init), to: "/topic/kept")
        let epoch = try #require(sink.messages.last?.headers[PerigeeHeader.epoch])
        var topic = "/topic/kept"
        let since: String
        switch kind {
        case "other-epoch": since = "zzzz:9"
        case "beyond-bound": since = "\(epoch):5"  // 6 and 7 were dropped (history 3: 8, 9, 10)
        case "beyond-head": since = "\(epoch):11"
        case "pattern":
            topic = "/topic/kept.#"
            since = "\(epoch):9"
        case "queue":
            topic = "/queue/kept"
            since = "\(epoch):9"
        default: since = "not a position"
        }
        let (_, resumed) = try fixture.connect(Self.subscribe(topic, [PerigeeHeader.since: since]))
        let receipt = try #require(resumed.receipts.first)
        #expect(receipt.headers[PerigeeHeader.recovered] == "false")
        #expect(receipt.headers[PerigeeHeader.replayed] == "0")
        #expect(resumed.messages.isEmpty)
        if kind == "queue" {
            let message = HubMessage(id: "q", destination: Destination("/queue/kept")!, headers: [:], body: ByteBuffer(string: "q"))
            _ = fixture.hub.publish(message, on: fixture.loop)
            fixture.loop.run()
            #expect(resumed.bodies == ["q"])
        } else {
            fixture.publish(["11"], to: "/topic/kept")
            #expect(resumed.bodies == ["11"])
        }
    }

    @Test func historyHeaderGivesTheLastMessagesAndIsTheFallbackOfAFailedResume() throws {
        let fixture = Fixture(history: 5)
        fixture.publish((1...8).map(String.init), to: "/topic/kept")
        let (_, recent) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "2"]))
        #expect(recent.bodies == ["7", "8"])
        #expect(recent.receipts.first?.headers[PerigeeHeader.recovered] == nil)
        #expect(recent.receipts.first?.headers[PerigeeHeader.replayed] == "2")
        // More than kept: what is kept.
        let (_, all) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "50"]))
        #expect(all.bodies == ["4", "5", "6", "7", "8"])
        let (_, failed) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.since: "zzzz:1", PerigeeHeader.history: "1"]))
        #expect(failed.receipts.first?.headers[PerigeeHeader.recovered] == "false")
        #expect(failed.bodies == ["8"])
        // perigee-history:0 replays nothing but answers with the head, to resume from later.
        let (_, none) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "0"]))
        #expect(none.messages.isEmpty)
        #expect(none.receipts.first?.headers[PerigeeHeader.replayed] == "0")
        #expect(none.receipts.first?.headers[PerigeeHeader.offset] == "8")
        // A malformed count is refused.
        let (_, bad) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "-1"]))
        #expect(bad.frames.last?.command == .error)
    }

    @Test func historyExpiresWithItsTTLAndStaysWithinTheMemoryBudget() throws {
        let fixture = Fixture(history: 1_000, ttl: 60)
        fixture.publish(["old"], to: "/topic/kept")
        fixture.loop.advanceTime(by: .seconds(61))
        fixture.publish(["new"], to: "/topic/kept")
        let (_, sink) = try fixture.connect(Self.subscribe("/topic/kept", [PerigeeHeader.history: "10"]))
        #expect(sink.bodies == ["new"])

        // 64 KiB for the hub: far fewer than 1,000 messages of 1 KiB fit, the oldest leave first
        // whatever their topic.
        let small = Fixture(history: 1_000, maxHistoryBytes: 64 << 10)
        let body = String(repeating: "x", count: 1_000)
        for index in 0..<200 {
            small.publish(["\(index)-\(body)"], to: index.isMultiple(of: 2) ? "/topic/kept.a" : "/topic/kept.b")
        }
        let shard = try #require(small.hub.shard(on: small.loop))
        #expect(shard.historyBytes <= 64 << 10)
        let (_, a) = try small.connect(Self.subscribe("/topic/kept.a", [PerigeeHeader.history: "1000"]))
        #expect(a.bodies.count > 10 && a.bodies.count < 100)
        #expect(a.bodies.last?.hasPrefix("198-") == true)
    }

    @Test func idleTopicsAreForgottenAndComeBackWithANewEpoch() throws {
        let fixture = Fixture()
        let (connection, sink) = try fixture.connect(Self.subscribe("/topic/plain"))
        fixture.publish(["a"], to: "/topic/plain")
        let epoch = sink.messages.last?.headers[PerigeeHeader.epoch]
        let shard = try #require(fixture.hub.shard(on: fixture.loop))
        // Subscribed: kept across sweeps.
        fixture.loop.advanceTime(by: TopicTable.sweepInterval * 3)
        #expect(shard.topicCount == 1)
        connection.transportClosed()
        fixture.loop.advanceTime(by: TopicTable.sweepInterval * 3)
        #expect(shard.topicCount == 0)
        #expect(shard.historyBytes == 0)
        // Nobody listens: a publish is not even numbered.
        fixture.publish(["b"], to: "/topic/plain")
        #expect(shard.topicCount == 0)
        let (_, again) = try fixture.connect(Self.subscribe("/topic/plain"))
        fixture.publish(["c"], to: "/topic/plain")
        #expect(again.offsets == [1])
        #expect(again.messages.last?.headers[PerigeeHeader.epoch] != epoch)
    }

    @Test func presenceCountsEachUserOnceAndSendsJoinAndLeaveOnlyToThoseWhoAsked() throws {
        let fixture = Fixture(presence: true)
        let (_, watcher) = try fixture.connect(login: "watcher", Self.subscribe("/topic/kept", [PerigeeHeader.presence: "true"]))
        let (_, deaf) = try fixture.connect(Self.subscribe("/topic/kept"))
        let (tab1, _) = try fixture.connect(login: "alice", Self.subscribe("/topic/kept"))
        let (tab2, _) = try fixture.connect(login: "alice", Self.subscribe("/topic/kept"))
        let (anonymous, _) = try fixture.connect(Self.subscribe("/topic/kept"))

        let snapshot = try presence(fixture)
        #expect(snapshot?.members.map(\.user) == ["alice", "watcher"])
        #expect(snapshot?.members.first?.sessions == 2)
        #expect(snapshot?.members.first?.data == "{\"name\":\"alice\"}")
        #expect(snapshot?.anonymous == 2)

        tab1.transportClosed()
        anonymous.transportClosed()
        fixture.loop.run()
        tab2.receive(ByteBuffer(string: "UNSUBSCRIBE\nid:s\n\n\0"))
        fixture.loop.run()
        let events = watcher.messages.compactMap { frame -> String? in
            guard let event = frame.headers[PerigeeHeader.event] else { return nil }
            return "\(event) \(String(buffer: frame.body))"
        }
        #expect(events == [
            "join {\"user\":\"watcher\",\"data\":{\"name\":\"watcher\"}}",
            "join {\"user\":\"alice\",\"data\":{\"name\":\"alice\"}}",
            "leave {\"user\":\"alice\",\"data\":{\"name\":\"alice\"}}",
        ])
        #expect(watcher.messages.allSatisfy { $0.headers[PerigeeHeader.offset] == nil })
        #expect(deaf.messages.isEmpty)
        #expect(try presence(fixture)?.members.map(\.user) == ["watcher"])
        #expect(try presence(fixture)?.anonymous == 1)
        // No presence configured: nil.
        let none = fixture.hub.presence(of: Destination("/topic/plain")!, on: fixture.loop)
        fixture.loop.run()
        #expect(try none.wait() == nil)
    }

    private func presence(_ fixture: Fixture) throws -> PresenceSnapshot? {
        let future = fixture.hub.presence(of: Destination("/topic/kept")!, on: fixture.loop)
        fixture.loop.run()
        return try future.wait()
    }

    @Test func historyAPIReadsPagesAfterAPosition() throws {
        let fixture = Fixture()
        fixture.publish((1...6).map(String.init), to: "/topic/kept")
        let destination = Destination("/topic/kept")!
        let newest = fixture.hub.history(of: destination, since: nil, limit: 2, on: fixture.loop)
        fixture.loop.run()
        let page = try newest.wait()
        #expect(page.messages.map { String(buffer: $0.body) } == ["5", "6"])
        #expect(page.head.offset == 6)
        let after = fixture.hub.history(of: destination, since: TopicPosition(epoch: page.head.epoch, offset: 1), limit: 3, on: fixture.loop)
        fixture.loop.run()
        let next = try after.wait()
        #expect(next.messages.compactMap { $0.position?.offset } == [2, 3, 4])
        #expect(next.recovered && next.truncated)
    }

    /// Two real event loops: publishers on both, a subscriber resuming on one while messages
    /// keep coming. Offsets are one sequence per topic, and the resumed subscription gets every
    /// message after its position exactly once.
    @Test func offsetsAreOneSequenceAcrossLoopsAndTheSeamLosesNothing() throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        defer { try? group.syncShutdownGracefully() }
        var configuration = HubConfiguration()
        configuration.channelPolicy = { _ in ChannelPolicy(history: 10_000) }
        let hub = Hub(group: group, configuration: configuration)
        let loops = Array(group.makeIterator())
        let destination = Destination("/topic/seam")!

        let total = 4_000
        // Publishers on both loops, 2,000 each, interleaved by the loops themselves.
        let published = loops.enumerated().map { index, loop in
            loop.submit {
                for number in 0..<(total / 2) {
                    let message = HubMessage(id: "p\(index)-\(number)", destination: destination, headers: [:], body: ByteBuffer(string: "\(index)-\(number)"))
                    hub.post(topicMessage: message, on: loop)
                }
            }
        }
        // Meanwhile, a subscriber on the second loop resumes from the start of the epoch.
        let subscriberLoop = loops[1]
        let collector = Collector()
        let epoch = try hub.history(of: destination, since: nil, limit: 0, on: subscriberLoop).wait().head.epoch
        try subscriberLoop.submit {
            let connection = StompConnection(hub: hub, eventLoop: subscriberLoop, transport: collector)
            connection?.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0" + Self.subscribe("/topic/seam", [PerigeeHeader.since: "\(epoch):0"])))
        }.wait()
        for future in published { try future.wait() }
        // Every message numbered: wait (bounded) for the last to arrive.
        let deadline = NIODeadline.now() + .seconds(20)
        while collector.offsets.count < total, NIODeadline.now() < deadline {
            try subscriberLoop.submit {}.wait()
        }
        #expect(collector.offsets == Array(1...UInt64(total)))
        let receipt = collector.frames.withLockedValue { $0.first { $0.command == .receipt } }
        #expect(receipt?.headers[PerigeeHeader.recovered] == "true")
    }
}
