import NIOCore
import NIOEmbedded
import NIOPosix
import Testing
@testable import Hub

/// Issue 8: frames delivered to a connection in one event-loop tick leave in one flush, and a
/// publish hops only to the shards that have subscribers for it.
@Suite struct WriteCoalescingTests {
    /// Records what a `StompConnection` asks of its transport.
    final class RecordingTransport: StompTransport {
        var writes = 0
        var flushes = 0
        func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) { writes += 1 }
        func flush() { flushes += 1 }
        var isWritable: Bool { true }
        var carriesTextOnly: Bool { false }
        func close(afterError: Bool) {}
        func abort(farewell: ByteBuffer) {}
    }

    private static func subscribed(
        _ configure: (inout HubConfiguration) -> Void = { _ in }
    ) throws -> (EmbeddedEventLoop, Hub, RecordingTransport, StompConnection) {
        let loop = EmbeddedEventLoop()
        var configuration = HubConfiguration()
        configure(&configuration)
        let hub = Hub(group: loop, configuration: configuration)
        let transport = RecordingTransport()
        let connection = try #require(StompConnection(hub: hub, eventLoop: loop, transport: transport))
        connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0"))
        loop.run()
        transport.writes = 0
        transport.flushes = 0
        return (loop, hub, transport, connection)
    }

    private static func message(_ index: Int) -> HubMessage {
        HubMessage(id: "m\(index)", destination: Destination("/topic/t")!, headers: [:], body: ByteBuffer(string: "\(index)"))
    }

    @Test func deliveriesInOneTickLeaveInOneFlush() throws {
        let (loop, hub, transport, connection) = try Self.subscribed()
        for index in 0..<10 { hub.post(topicMessage: Self.message(index), on: loop) }
        #expect(transport.writes == 10)
        #expect(transport.flushes == 0)
        loop.run()
        #expect(transport.flushes == 1)
        withExtendedLifetime(connection) {}
    }

    @Test func aCoalescingDelayHoldsTheFlushThatLong() throws {
        let (loop, hub, transport, connection) = try Self.subscribed { $0.writeCoalescingMicroseconds = 1_000 }
        hub.post(topicMessage: Self.message(0), on: loop)
        loop.run()
        loop.advanceTime(by: .microseconds(999))
        hub.post(topicMessage: Self.message(1), on: loop)
        #expect(transport.flushes == 0)
        loop.advanceTime(by: .microseconds(1))
        #expect(transport.writes == 2)
        #expect(transport.flushes == 1)
        withExtendedLifetime(connection) {}
    }

    @Test func interestNamesOnlyTheShardsThatSubscribed() {
        let interest = HubInterest(shardCount: 3)
        let a = Destination("/topic/a")!
        let b = Destination("/topic/b")!
        #expect(interest.shards(for: a) == 0)
        interest.set(shard: 0, exact: a, interested: true)
        interest.set(shard: 2, exact: a, interested: true)
        #expect(interest.shards(for: a) == 0b101)
        #expect(interest.shards(for: b) == 0)
        interest.set(shard: 1, patterns: true)
        #expect(interest.shards(for: b) == 0b010)
        #expect(interest.shards(for: a) == 0b111)
        interest.set(shard: 0, exact: a, interested: false)
        interest.set(shard: 1, patterns: false)
        #expect(interest.shards(for: a) == 0b100)
    }

    @Test func aShardAdvertisesItsFirstSubscriptionAndWithdrawsAfterItsLast() throws {
        let (loop, hub, _, connection) = try Self.subscribed()
        let topic = Destination("/topic/t")!
        #expect(hub.interestedShards(for: topic) == 1)
        connection.receive(ByteBuffer(string: "SUBSCRIBE\nid:2\ndestination:/topic/t\n\n\0UNSUBSCRIBE\nid:1\n\n\0"))
        #expect(hub.interestedShards(for: topic) == 1)
        connection.receive(ByteBuffer(string: "UNSUBSCRIBE\nid:2\n\n\0"))
        #expect(hub.interestedShards(for: topic) == 0)
        loop.run()
    }

    /// Found by review: past 64 shards the interest mask has no bit for a shard, so the hub
    /// must publish to every shard rather than walk the mask.
    @Test func moreShardsThanAMaskHasBitsStillReachEveryShard() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 65)
        let loops = Array(group.makeIterator())
        let hub = Hub(group: group)
        let last = loops[64]
        let subscribed = try await last.submit {
            // The shard keeps the connection (and it its transport) once registered.
            guard let connection = StompConnection(hub: hub, eventLoop: last, transport: RecordingTransport()) else { return false }
            connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0SUBSCRIBE\nid:1\ndestination:/topic/t\n\n\0"))
            return true
        }.get()
        #expect(subscribed)
        let first = loops[0]
        let result = try await first.flatSubmit { hub.publish(Self.message(0), on: first) }.get()
        #expect(result.delivered == 1)
        try await group.shutdownGracefully()
    }
}
