import Gateway
import Hub
import NIOCore
import Testing

/// A subscriber that stops reading is cut off with ERROR `slow consumer` once its queue passes
/// the limit, instead of growing the server's memory; others keep receiving.
@Suite(.timeLimit(.minutes(1)))
struct SlowConsumerTests {
    @Test func aClientThatStopsReadingIsDisconnected() async throws {
        try await withTestServer({ $0.hub.maxOutboundBytes = 256 * 1024 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var slow = try await StompTestClient.connect(handle, over: .tcp)
            try await slow.send(.subscribe, ["destination": "/topic/firehose", "id": "1", "receipt": "r"])
            #expect(try await slow.next()?.command == .receipt)
            try await slow.setReading(false)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            let chunk = String(repeating: "x", count: 60_000)
            // Far more than the socket buffers and the limit together, while `slow` reads nothing.
            for index in 0..<400 {
                try await publisher.send(.send, ["destination": "/topic/firehose"], body: chunk)
                if index % 50 == 49 {
                    try await publisher.send(.send, ["destination": "/topic/other", "receipt": "p\(index)"])
                    #expect(try await publisher.next()?.command == .receipt)
                }
            }
            try await slow.setReading(true)
            let frames = try await slow.drainUntilClosed()
            #expect(frames.count < 400)
            #expect(frames.last?.command == .error)
            #expect(frames.last?.headers["message"] == "slow consumer")
            // The publisher is unaffected.
            try await publisher.send(.send, ["destination": "/topic/other", "receipt": "after"])
            #expect(try await publisher.next()?.headers["receipt-id"] == "after")
        }
    }
}
