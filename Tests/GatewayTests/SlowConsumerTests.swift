import Gateway
import Hub
import NIOCore
import NIOPosix
import Testing

/// A subscriber that stops reading is dropped at once when it falls `max_outbound_bytes`
/// behind: its queued output is discarded and its session freed while it still reads nothing
/// (issue 7, fault 4: before, the ERROR queued behind the unread bytes and the close waited
/// for a flush that never came). Others keep receiving.
@Suite(.timeLimit(.minutes(1)))
struct SlowConsumerTests {
    @Test(arguments: [StompTestClient.Transport.tcp, .webSocket])
    func aClientThatStopsReadingIsDroppedAtOnce(transport: StompTestClient.Transport) async throws {
        try await withTestServer({ $0.hub.maxOutboundBytes = 256 * 1024 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var slow = try await StompTestClient.connect(handle, over: transport)
            try await slow.send(.subscribe, ["destination": "/topic/firehose", "id": "1", "receipt": "r"])
            #expect(try await slow.next()?.command == .receipt)
            try await slow.setReading(false)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            let published = try await publishUntilDropped(server, &publisher)
            #expect(published < 2_000)
            // Its connection is closed: what it reads now ends, well short of everything.
            try await slow.setReading(true)
            let frames = try await slow.drainUntilClosed()
            #expect(frames.count < published)
            // The publisher is unaffected.
            try await publisher.send(.send, ["destination": "/topic/other", "receipt": "after"])
            #expect(try await publisher.next()?.headers["receipt-id"] == "after")
        }
    }

    /// The SockJS streaming transport respects writability too: a client that stops reading
    /// its xhr_streaming response is dropped instead of growing the channel's buffer.
    @Test func aSockJSStreamThatStopsReadingIsDropped() async throws {
        try await withTestServer({ $0.hub.maxOutboundBytes = 256 * 1024 }) { server in
            let port = server.httpPort
            let url = "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            var stream = try await RawWebSocketClient.connect(port: port)
            _ = try await stream.request("POST \(url)/xhr_streaming HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            let connect = StompFrame(.connect, headers: ["accept-version": "1.2", "host": "h"])
            let subscribe = StompFrame(.subscribe, headers: ["destination": "/topic/firehose", "id": "1", "receipt": "r"])
            let texts = [connect, subscribe].map { String(decoding: StompEncoder.encode($0, version: .v1_2).readableBytesView, as: UTF8.self) }
            let payload = "[" + texts.map { "\"" + $0.replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\0", with: "\\u0000") + "\"" }.joined(separator: ",") + "]"
            #expect(try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr_send", body: payload).status == 204)
            var received = ""
            while !received.contains("RECEIPT") {
                guard let chunk = try await stream.nextChunkPublic() else { break }
                received += String(buffer: chunk)
            }
            #expect(received.contains("RECEIPT"))
            try await stream.setReading(false)
            let handle = GatewayServerHandle(httpPort: port, stompPort: server.stompPort)
            var publisher = try await StompTestClient.connect(handle, over: .tcp)
            let published = try await publishUntilDropped(server, &publisher)
            #expect(published < 2_000)
            await stream.close()
        }
    }

    /// Publishes 60 kB messages to `/topic/firehose` until the server has dropped the one
    /// subscriber that is not reading (2 sessions → 1), at most 2,000; returns how many it took.
    private func publishUntilDropped(_ server: GatewayServer, _ publisher: inout StompTestClient) async throws -> Int {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let chunk = String(repeating: "x", count: 60_000)
        var sessions = 2
        var published = 0
        while sessions == 2 && published < 2_000 {
            for _ in 0..<10 {
                try await publisher.send(.send, ["destination": "/topic/firehose"], body: chunk)
            }
            published += 10
            try await publisher.send(.send, ["destination": "/topic/other", "receipt": "p\(published)"])
            #expect(try await publisher.next()?.command == .receipt)
            sessions = try await server.hub.sessionCount(on: loop).get()
        }
        #expect(sessions == 1, "the slow consumer was still connected after \(published) messages")
        return published
    }
}
