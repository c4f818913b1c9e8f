import NIOCore
import NIOEmbedded
import Testing
@testable import Hub

/// Issue 10: what operators read from and do to the hub — counters by transport, the session
/// list, ending sessions (drain, admin) and revoking a subscription.
@Suite struct HubOperationsTests {
    /// Keeps what a connection writes, and how it was told to close.
    final class Transport: StompTransport {
        var frames: [String] = []
        var closed: String?
        func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) { frames.append(String(buffer: bytes)) }
        func flush() {}
        var isWritable: Bool { true }
        var carriesTextOnly: Bool { false }
        func close(afterError: Bool) { closed = afterError ? "error" : "normal" }
        func abort(farewell: ByteBuffer) { closed = "abort" }
        func goAway(farewell: ByteBuffer) {
            frames.append(String(buffer: farewell))
            closed = "go away"
        }
    }

    private struct Fixture {
        let loop = EmbeddedEventLoop()
        let hub: Hub
        var connections: [StompConnection] = []
        var transports: [Transport] = []

        init() { hub = Hub(group: loop) }

        /// Connects a session over `transport` subscribed to each of `topics`.
        mutating func connect(_ transport: String, address: String? = "10.0.0.1:5000", topics: [String]) throws {
            let sink = Transport()
            let connection = try #require(StompConnection(hub: hub, eventLoop: loop, transport: sink, label: .init(transport: transport, address: address)))
            var input = "CONNECT\naccept-version:1.2\nhost:h\n\n\0"
            for (index, topic) in topics.enumerated() { input += "SUBSCRIBE\nid:\(index)\ndestination:\(topic)\n\n\0" }
            connection.receive(ByteBuffer(string: input))
            loop.run()
            connections.append(connection)
            transports.append(sink)
        }

        func publish(_ body: String, to topic: String) {
            let message = HubMessage(id: "m-\(body)", destination: Destination(topic)!, headers: [:], body: ByteBuffer(string: body))
            hub.post(topicMessage: message, on: loop)
            loop.run()
        }

        func statistics() throws -> HubStatistics {
            let future = hub.statistics(on: loop)
            loop.run()
            return try future.wait()
        }
    }

    @Test func countsConnectionsMessagesAndBytesByTransport() throws {
        var fixture = Fixture()
        try fixture.connect("websocket", topics: ["/topic/a"])
        try fixture.connect("websocket", topics: ["/topic/a", "/topic/b"])
        try fixture.connect("xhr-polling", topics: ["/topic/b"])
        fixture.publish("hello", to: "/topic/a")
        fixture.publish("bye", to: "/topic/b")
        let send = "SEND\ndestination:/topic/a\n\nx\0"
        fixture.connections[2].receive(ByteBuffer(string: send))
        fixture.loop.run()

        let statistics = try fixture.statistics()
        let websocket = try #require(statistics.transports["websocket"])
        let polling = try #require(statistics.transports["xhr-polling"])
        #expect(websocket.opened == 2 && websocket.open == 2)
        #expect(polling.opened == 1 && polling.open == 1)
        // hello to both WebSocket sessions, bye to the second, x (from the poller) to both.
        #expect(websocket.traffic.messagesOut == 5)
        #expect(polling.traffic.messagesOut == 1)
        #expect(polling.traffic.messagesIn == 1)
        #expect(polling.traffic.bytesIn == UInt64(send.utf8.count) + UInt64("CONNECT\naccept-version:1.2\nhost:h\n\n\0SUBSCRIBE\nid:0\ndestination:/topic/b\n\n\0".utf8.count))
        let written = fixture.transports[0].frames.reduce(0) { $0 + $1.utf8.count }
        #expect(statistics.transports["websocket"].map { $0.traffic.bytesOut } == UInt64(written + fixture.transports[1].frames.reduce(0) { $0 + $1.utf8.count }))
        #expect(statistics.sessionsByKind == ["anonymous": 3])
        #expect(statistics.subscriptions == 4)
        #expect(statistics.deliveries == 6)
    }

    @Test func errorsAndLimitsAreCountedByMessage() throws {
        var fixture = Fixture()
        try fixture.connect("tcp", topics: [])
        fixture.connections[0].receive(ByteBuffer(string: "UNSUBSCRIBE\nid:nope\n\n\0"))
        fixture.loop.run()
        let statistics = try fixture.statistics()
        #expect(statistics.errors == ["unknown subscription": 1])
        #expect(statistics.transports["tcp"]?.open == 0)
        #expect(fixture.transports[0].closed == "error")
    }

    @Test func aTransportFailureIsCountedAsItsLimitAndNamedOnClose() throws {
        var fixture = Fixture()
        try fixture.connect("websocket", topics: ["/topic/a"])
        fixture.connections[0].transportFailed("websocket close 1009: message too big", limit: "websocket_message_size")
        fixture.connections[0].transportClosed()
        let statistics = try fixture.statistics()
        #expect(statistics.limits == ["websocket_message_size": 1])
        #expect(statistics.transports["websocket"]?.open == 0)
        #expect(statistics.subscriptions == 0)
    }

    @Test func listsSessionsWithTheirSubscriptionsAndTraffic() throws {
        var fixture = Fixture()
        try fixture.connect("tcp", address: "192.0.2.7:41000", topics: ["/topic/b", "/topic/a"])
        fixture.publish("one", to: "/topic/a")
        let future = fixture.hub.sessions(on: fixture.loop)
        fixture.loop.run()
        let sessions = try future.wait()
        #expect(sessions.count == 1)
        let session = try #require(sessions.first)
        #expect(session.label == StompConnectionLabel(transport: "tcp", address: "192.0.2.7:41000"))
        #expect(session.subscriptions == ["/topic/a", "/topic/b"])
        #expect(session.connected && session.user == nil && session.kind == "anonymous")
        #expect(session.traffic.messagesOut == 1)
        #expect(session.id.hasPrefix("session-"))
    }

    @Test func terminatingForAShutdownSaysGoAwayAfterWhatWasPublished() throws {
        var fixture = Fixture()
        try fixture.connect("websocket", topics: ["/topic/a"])
        try fixture.connect("tcp", topics: ["/topic/a"])
        // Published, then the drain: the message arrives before the ERROR.
        let message = HubMessage(id: "m-last", destination: Destination("/topic/a")!, headers: [:], body: ByteBuffer(string: "last"))
        fixture.hub.post(topicMessage: message, on: fixture.loop)
        let ended = fixture.hub.terminate(matching: { _ in true }, with: .serverShuttingDown, on: fixture.loop)
        fixture.loop.run()
        #expect(try ended.wait() == 2)
        for transport in fixture.transports {
            #expect(transport.closed == "go away")
            let last = transport.frames.suffix(2)
            #expect(last.first?.hasPrefix("MESSAGE\n") == true && last.first?.contains("last") == true)
            #expect(last.last?.hasPrefix("ERROR\n") == true && last.last?.contains("message:server shutting down") == true)
        }
        let statistics = try fixture.statistics()
        #expect(statistics.transports.values.allSatisfy { $0.open == 0 })
        #expect(statistics.subscriptions == 0)
    }

    @Test func anAdministratorEndsOnlyTheChosenSessions() throws {
        var fixture = Fixture()
        try fixture.connect("websocket", topics: ["/topic/a"])
        try fixture.connect("websocket", topics: ["/topic/a"])
        let target = fixture.connections[1].sessionName
        let ended = fixture.hub.terminate(matching: { $0.id == target }, with: .disconnectedByAdministrator, on: fixture.loop)
        fixture.loop.run()
        #expect(try ended.wait() == 1)
        #expect(fixture.transports[0].closed == nil)
        #expect(fixture.transports[1].closed == "error")
        #expect(fixture.transports[1].frames.last?.contains("message:disconnected by administrator") == true)
    }

    @Test func revokingASubscriptionStopsItsDeliveries() throws {
        var fixture = Fixture()
        try fixture.connect("websocket", topics: ["/topic/a", "/topic/b"])
        let id = fixture.connections[0].sessionName
        let revoked = fixture.hub.revoke(session: id, destination: "/topic/a", on: fixture.loop)
        let missing = fixture.hub.revoke(session: "session-nobody", destination: "/topic/a", on: fixture.loop)
        fixture.loop.run()
        #expect(try revoked.wait() == 1)
        #expect(try missing.wait() == nil)
        let before = fixture.transports[0].frames.count
        fixture.publish("a", to: "/topic/a")
        fixture.publish("b", to: "/topic/b")
        #expect(fixture.transports[0].frames.count == before + 1)
        #expect(fixture.transports[0].frames.last?.contains("destination:/topic/b") == true)
        #expect(fixture.transports[0].closed == nil)
    }
}
