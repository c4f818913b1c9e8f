import NIOCore
import NIOEmbedded
import Testing
@testable import Hub

/// Issue 10, the drain's guarantee: a publish answered (RECEIPT, HTTP 202) before
/// `Hub.beginShutdown` reached every subscriber ahead of its goodbye; from `beginShutdown` on,
/// publishes that someone waits for are refused with `server shutting down`.
@Suite struct HubShutdownTests {
    private typealias Transport = HubOperationsTests.Transport

    private let loop = EmbeddedEventLoop()

    private func connect(_ hub: Hub, subscribingTo topic: String?) throws -> (StompConnection, Transport) {
        let sink = Transport()
        let connection = try #require(StompConnection(hub: hub, eventLoop: loop, transport: sink, label: .init(transport: "tcp", address: nil)))
        var input = "CONNECT\naccept-version:1.2\nhost:h\n\n\0"
        if let topic { input += "SUBSCRIBE\nid:0\ndestination:\(topic)\n\n\0" }
        connection.receive(ByteBuffer(string: input))
        loop.run()
        return (connection, sink)
    }

    @Test func receiptsBeforeTheShutdownAndErrorsAfter() throws {
        let hub = Hub(group: loop)
        let (_, subscriber) = try connect(hub, subscribingTo: "/topic/a")
        let (publisher, sent) = try connect(hub, subscribingTo: nil)

        publisher.receive(ByteBuffer(string: "SEND\ndestination:/topic/a\nreceipt:r1\n\nbefore\0"))
        loop.run()
        #expect(sent.frames.last?.hasPrefix("RECEIPT\nreceipt-id:r1") == true)

        hub.beginShutdown()
        #expect(hub.isShuttingDown)
        publisher.receive(ByteBuffer(string: "SEND\ndestination:/topic/a\nreceipt:r2\n\nafter\0"))
        loop.run()
        let refusal = try #require(sent.frames.last)
        #expect(refusal.hasPrefix("ERROR\n") && refusal.contains("message:server shutting down") && refusal.contains("receipt-id:r2"), "\(refusal)")

        let ended = hub.terminate(matching: { _ in true }, with: .serverShuttingDown, on: loop)
        loop.run()
        #expect(try ended.wait() == 1, "the publisher's session had already ended")
        let received = Array(subscriber.frames.dropFirst())  // after CONNECTED
        #expect(received.count == 2 && received[0].hasPrefix("MESSAGE") && received[0].hasSuffix("before\0"), "\(received)")
        #expect(received.last?.contains("message:server shutting down") == true)
        #expect(subscriber.closed == "go away")
    }

    @Test func publishesThatSomeoneWaitsForFailPostsStillGoOut() throws {
        let hub = Hub(group: loop)
        let (_, subscriber) = try connect(hub, subscribingTo: "/topic/a")
        hub.beginShutdown()
        let message = HubMessage(id: "m", destination: try #require(Destination("/topic/a")), headers: [:], body: ByteBuffer(string: "x"))
        let answered = hub.publish(message, on: loop)
        loop.run()
        #expect(throws: Hub.PublishError.shuttingDown) { try answered.wait() }
        #expect(subscriber.frames.count == 1, "CONNECTED only: refused before any delivery")
        let queued = hub.publish(HubMessage(id: "q", destination: try #require(Destination("/queue/q")), headers: [:], body: ByteBuffer()), on: loop)
        loop.run()
        #expect(throws: Hub.PublishError.shuttingDown) { try queued.wait() }
        hub.post(topicMessage: message, on: loop)
        loop.run()
        #expect(subscriber.frames.count == 2, "nobody waits for a post: it still goes out")
    }
}
