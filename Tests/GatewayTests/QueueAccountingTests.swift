import Gateway
import Hub
import NIOCore
import NIOPosix
import Testing

/// A queue's count covers every message it is responsible for, and messages it takes back
/// keep their order (both found by the issue 7 review).
@Suite struct QueueAccountingTests {
    private static func depth(_ server: GatewayServer, _ queue: String) async throws -> Hub.QueueDepth? {
        try await server.hub.queueDepth(queue, on: MultiThreadedEventLoopGroup.singleton.next()).get()
    }

    /// Waits (polling the hub, at most 5 s) until `condition` holds for the queue's depth.
    private static func waitForDepth(_ server: GatewayServer, _ queue: String, _ condition: (Hub.QueueDepth?) -> Bool) async throws -> Bool {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        for _ in 0..<500 {
            if condition(try await depth(server, queue)) { return true }
            try await loop.scheduleTask(in: .milliseconds(10)) {}.futureResult.get()
        }
        return false
    }

    /// Messages handed to a subscription that is gone by the time they reach it come back
    /// one by one; they must return in their original order, not reversed.
    @Test func messagesTakenBackKeepTheirOrder() async throws {
        try await withTestServer { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            for index in 0..<6 {
                try await publisher.send(.send, ["destination": "/queue/bounce", "receipt": "r\(index)"], body: "B\(index)")
                #expect(try await publisher.next()?.command == .receipt)
            }
            // SUBSCRIBE and UNSUBSCRIBE in one packet: the owner hands the six messages to a
            // subscription that has already ended, and each comes back on its own.
            var consumer = try await StompTestClient.connect(handle, over: .tcp)
            var packet = ByteBuffer()
            StompEncoder.encode(StompFrame(.subscribe, headers: ["destination": "/queue/bounce", "id": "1"]), version: .v1_2, into: &packet)
            StompEncoder.encode(StompFrame(.unsubscribe, headers: ["id": "1"]), version: .v1_2, into: &packet)
            try await consumer.sendRaw(packet)
            let settled = try await Self.waitForDepth(server, "bounce") { $0 == Hub.QueueDepth(waiting: 6, inFlight: 0) }
            let depth = try await Self.depth(server, "bounce")
            #expect(settled, "queue depth: \(String(describing: depth))")
            try await consumer.send(.subscribe, ["destination": "/queue/bounce", "id": "2"])
            var frames: [StompFrame] = []
            while frames.count < 6, let frame = try await consumer.next() {
                if frame.command == .message { frames.append(frame) }
            }
            #expect(frames.map(\.bodyText) == (0..<6).map { "B\($0)" })
        }
    }

    /// `max_queued_messages` counts what consumers hold unacknowledged: a consumer that does
    /// not acknowledge cannot make the queue take more than the limit.
    @Test func theLimitCountsMessagesHeldByConsumers() async throws {
        try await withTestServer({ $0.hub.maxQueuedMessages = 5 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var consumer = try await StompTestClient.connect(handle, over: .tcp)
            try await consumer.send(.subscribe, ["destination": "/queue/held", "id": "1", "ack": "client", "receipt": "s"])
            #expect(try await consumer.next()?.command == .receipt)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            for index in 0..<5 {
                try await publisher.send(.send, ["destination": "/queue/held", "receipt": "r\(index)"], body: "m\(index)")
                #expect(try await publisher.next()?.command == .receipt)
            }
            try await publisher.send(.send, ["destination": "/queue/held", "receipt": "over"], body: "m5")
            let answer = try await publisher.next()
            #expect(answer?.command == .error)
            #expect(answer?.headers["message"] == "queue full")
            #expect(try await Self.depth(server, "held") == Hub.QueueDepth(waiting: 0, inFlight: 5))
        }
    }

    /// Found by review: a burst to a queue whose auto-acknowledging consumer keeps up is not
    /// refused. What such a consumer was handed has left the queue; only messages waiting, or
    /// unacknowledged with an acknowledging consumer, count against the limit.
    @Test func aBurstToAnAutoConsumerIsNotRefused() async throws {
        try await withTestServer({ $0.hub.maxQueuedMessages = 100 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var consumer = try await StompTestClient.connect(handle, over: .tcp)
            try await consumer.send(.subscribe, ["destination": "/queue/burst", "id": "1", "receipt": "s"])
            #expect(try await consumer.next()?.command == .receipt)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            var packet = ByteBuffer()
            for index in 0..<150 {
                StompEncoder.encode(StompFrame(.send, headers: ["destination": "/queue/burst"], body: ByteBuffer(string: "m\(index)")), version: .v1_2, into: &packet)
            }
            StompEncoder.encode(StompFrame(.send, headers: ["destination": "/queue/burst", "receipt": "last"], body: ByteBuffer(string: "m150")), version: .v1_2, into: &packet)
            try await publisher.sendRaw(packet)
            let answer = try await publisher.next()
            #expect(answer?.command == .receipt, "\(String(describing: answer?.headers["message"]))")
            var bodies: [String] = []
            while bodies.count < 151, let frame = try await consumer.next() {
                if frame.command == .message { bodies.append(frame.bodyText) }
            }
            #expect(bodies == (0...150).map { "m\($0)" })
        }
    }
}
