import Foundation
import Gateway
import Hub
import NIOCore
import NIOPosix
import Testing

/// Issue 7's bad-input matrix: every kind of hostile input on every transport it can arrive
/// on, each answered exactly, while a well-behaved subscriber on the same server keeps
/// receiving and the process's memory stays bounded.
@Suite(.serialized, .timeLimit(.minutes(2)))
struct BadInputMatrixTests {
    enum Transport: CustomTestStringConvertible, Sendable {
        case tcp, webSocket
        case sockJS(SockJSStompClient.Receiving)

        /// STOMP/TCP, STOMP/WebSocket and STOMP over each SockJS receiving transport.
        static let allCases: [Transport] = [.tcp, .webSocket] + SockJSStompClient.Receiving.allCases.map { .sockJS($0) }

        var testDescription: String {
            switch self {
            case .tcp: return "tcp"
            case .webSocket: return "webSocket"
            case .sockJS(let receiving): return "sockJS \(receiving.rawValue)"
            }
        }
    }

    /// A STOMP client on any of the three transports.
    enum Client {
        case stomp(StompTestClient)
        case sockJS(SockJSStompClient)

        static func open(_ transport: Transport, _ server: GatewayServer) async throws -> Client {
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            switch transport {
            case .tcp: return .stomp(try await StompTestClient.open(handle, over: .tcp))
            case .webSocket: return .stomp(try await StompTestClient.open(handle, over: .webSocket))
            case .sockJS(let receiving):
                var client = SockJSStompClient(port: server.httpPort, receiving: receiving)
                try await client.open()
                return .sockJS(client)
            }
        }

        func send(_ frame: StompFrame) async throws {
            switch self {
            case .stomp(let client): try await client.send(frame)
            case .sockJS(let client): try await client.send(frame)
            }
        }

        func sendRaw(_ text: String) async throws {
            switch self {
            case .stomp(let client): try await client.sendRaw(ByteBuffer(string: text))
            case .sockJS(let client): try await client.sendText(text)
            }
        }

        mutating func next() async throws -> StompFrame? {
            switch self {
            case .stomp(var client):
                let frame = try await client.next()
                self = .stomp(client)
                return frame
            case .sockJS(var client):
                let frame = try await client.next()
                self = .sockJS(client)
                return frame
            }
        }

        /// Every frame until the server closes the connection or session.
        mutating func drainUntilClosed() async throws -> [StompFrame] {
            var frames: [StompFrame] = []
            while let frame = try await next() { frames.append(frame) }
            return frames
        }

        mutating func connect(_ extra: StompHeaders = [:]) async throws -> StompFrame? {
            var headers: StompHeaders = ["accept-version": "1.2", "host": "h"]
            for (name, value) in extra { headers.add(name, value) }
            try await send(StompFrame(.connect, headers: headers))
            return try await next()
        }
    }

    /// Runs `body` against a server with small limits and a canary subscriber over TCP, then
    /// checks that the canary still receives.
    private func withGuardedServer(
        _ configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (GatewayServer) async throws -> Void
    ) async throws {
        try await withTestServer({ configuration in
            configuration.hub.connectTimeoutMilliseconds = 500
            configuration.lingerTimeout = .seconds(2)
            configure(&configuration)
        }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var canary = try await StompTestClient.connect(handle, over: .tcp)
            try await canary.send(.subscribe, ["destination": "/topic/shouts", "id": "c", "receipt": "c"])
            #expect(try await canary.next()?.command == .receipt)
            try await body(server)
            let publisher = try await StompTestClient.connect(handle, over: .tcp)
            try await publisher.send(.send, ["destination": "/topic/shouts"], body: "still alive")
            // (It may also see what the case itself published to /topic/shouts.)
            var alive = false
            while !alive, let frame = try await canary.next() { alive = frame.bodyText == "still alive" }
            #expect(alive)
            await publisher.close()
            await canary.close()
        }
    }

    private static func expectError(_ frames: [StompFrame], _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(frames.last?.command == .error, "got \(frames.map(\.command))", sourceLocation: sourceLocation)
        #expect(frames.last?.headers["message"] == message, sourceLocation: sourceLocation)
    }

    // MARK: Fault 1: client numbers in arithmetic

    @Test(arguments: Transport.allCases)
    func hugeHeartbeatIsClampedNotFatal(transport: Transport) async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(transport, server)
            let connected = try await client.connect(["heart-beat": "9223372036854775807,9223372036854775807"])
            #expect(connected?.command == .connected)
        }
    }

    @Test(arguments: Transport.allCases)
    func hugeContentLengthIsAnError(transport: Transport) async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(transport, server)
            #expect(try await client.connect()?.command == .connected)
            try await client.sendRaw("SEND\ndestination:/topic/a\ncontent-length:9223372036854775807\n\nabc")
            Self.expectError(try await client.drainUntilClosed(), "frame too large")
        }
    }

    // MARK: Fault 2: a super-linear pattern

    @Test func hashChainSubscriptionDoesNotStallTheLoop() async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(.tcp, server)
            #expect(try await client.connect()?.command == .connected)
            let pattern = "/topic/" + Array(repeating: "#", count: 124).joined(separator: ".") + ".x"
            try await client.send(StompFrame(.subscribe, headers: ["destination": pattern, "id": "p", "receipt": "s"]))
            #expect(try await client.next()?.command == .receipt)
            var publisher = try await Client.open(.tcp, server)
            #expect(try await publisher.connect()?.command == .connected)
            for topic in ["a.b.c.d", "a.b.c.d.e", "a.b.c.d.e.f", "a.b.c.d.e.x"] {
                try await publisher.send(StompFrame(.send, headers: ["destination": "/topic/" + topic], body: ByteBuffer(string: topic)))
            }
            #expect(try await client.next()?.bodyText == "a.b.c.d.e.x")
        }
    }

    // MARK: Fault 3: script injection over htmlfile

    @Test func htmlfileNeverEmbedsMarkupFromAMessage() async throws {
        try await withGuardedServer { server in
            let port = server.httpPort
            let url = "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            var stream = try await RawWebSocketClient.connect(port: port)
            _ = try await stream.request("GET \(url)/htmlfile?c=cb HTTP/1.1\r\nHost: h\r\n\r\n")
            let connect = String(decoding: StompEncoder.encode(StompFrame(.connect, headers: ["accept-version": "1.2", "host": "h"]), version: .v1_2).readableBytesView, as: UTF8.self)
            let subscribe = String(decoding: StompEncoder.encode(StompFrame(.subscribe, headers: ["destination": "/topic/shouts", "id": "1", "receipt": "r"]), version: .v1_2).readableBytesView, as: UTF8.self)
            let payload = String(decoding: try JSONSerialization.data(withJSONObject: [connect, subscribe]), as: UTF8.self)
            #expect(try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr_send", body: payload).status == 204)
            var received = ""
            while !received.contains("RECEIPT") {
                guard let chunk = try await stream.nextChunkPublic() else { break }
                received += String(buffer: chunk)
            }
            var publisher = try await Client.open(.tcp, server)
            #expect(try await publisher.connect()?.command == .connected)
            let attack = "</script><img src=x onerror=alert(document.domain)>&amp;"
            try await publisher.send(StompFrame(.send, headers: ["destination": "/topic/shouts"], body: ByteBuffer(string: attack)))
            while !received.contains("onerror") {
                guard let chunk = try await stream.nextChunkPublic() else { break }
                received += String(buffer: chunk)
            }
            let scripts = HTTPTestClient.dechunk(received).components(separatedBy: "<script>").dropFirst(2)
            #expect(received.contains("onerror"))
            #expect(!received.contains("<img"))
            #expect(!received.contains("&amp;"))
            for script in scripts { #expect(script.components(separatedBy: "</script>").count == 2) }
            await stream.close()
        }
    }

    // MARK: Fault 5: the publish API and the access policy

    @Test func publishAPIObeysTheAccessPolicy() async throws {
        try await withGuardedServer({ $0.accessPolicy = .standard }) { server in
            let denied = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/topic/admin", body: "x")
            #expect(denied.status == 403)
            #expect(denied.body.contains("you may not send to /topic/admin"))
            let allowed = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/topic/shouts", body: "x")
            #expect(allowed.status == 202)
        }
    }

    // MARK: Fault 6: bodies that are not UTF-8 over SockJS

    @Test(arguments: SockJSStompClient.Receiving.allCases)
    func nonUTF8BodyGetsAMatchingContentLengthOverSockJS(receiving: SockJSStompClient.Receiving) async throws {
        try await withGuardedServer { server in
            var poller = SockJSStompClient(port: server.httpPort, receiving: receiving)
            try await poller.open()
            try await poller.send(.connect, ["accept-version": "1.2", "host": "h"])
            #expect(try await poller.next()?.command == .connected)
            try await poller.send(.subscribe, ["destination": "/topic/bytes", "id": "1", "receipt": "r"])
            #expect(try await poller.next()?.command == .receipt)
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            let publisher = try await StompTestClient.connect(handle, over: .tcp)
            var frame = ByteBuffer(string: "SEND\ndestination:/topic/bytes\ncontent-length:6\n\n")
            frame.writeBytes([0xFF, 0xFE, 0x00, 0x80, 0x6F, 0x6B, 0x00])
            try await publisher.sendRaw(frame)
            let message = try await poller.next()
            #expect(message?.command == .message)
            let expected = "\u{FFFD}\u{FFFD}\u{0}\u{FFFD}ok"
            #expect(message?.bodyText == expected)
            #expect(message?.headers["content-length"] == String(expected.utf8.count))
        }
    }

    // MARK: Fault 7: nothing may hold a connection forever before CONNECT

    @Test(arguments: Transport.allCases)
    func connectMustArriveInTime(transport: Transport) async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(transport, server)
            Self.expectError(try await client.drainUntilClosed(), "connect timeout")
        }
    }

    @Test(arguments: Transport.allCases)
    func anEndlessHeadIsRefused(transport: Transport) async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(transport, server)
            try await client.sendRaw(String(repeating: "A", count: 16 * 1024))
            Self.expectError(try await client.drainUntilClosed(), "header too long")
        }
    }

    @Test func slowlorisGets408() async throws {
        try await withGuardedServer({ $0.httpHeadTimeout = .milliseconds(300) }) { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            try await client.send(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: "))
            let answer = try await client.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 408"))
        }
    }

    @Test func idleKeepAliveConnectionsClose() async throws {
        try await withGuardedServer({ $0.httpKeepAliveTimeout = .milliseconds(300) }) { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            let head = try await client.request("GET /healthz HTTP/1.1\r\nHost: h\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            _ = try await client.readToEnd()  // returns only because the server closes
        }
    }

    // MARK: Fault 8: the answer to oversized input is readable

    @Test func aClientStillSendingAHugeHeaderReadsTheError() async throws {
        try await withGuardedServer { server in
            var client = try await Client.open(.tcp, server)
            // 1 MiB of header, written while the server has already refused it.
            try await client.sendRaw("SEND\nx:" + String(repeating: "v", count: 1 << 20))
            Self.expectError(try await client.drainUntilClosed(), "header too long")
        }
    }

    @Test func anOversizedHTTPHeadGets431() async throws {
        try await withGuardedServer { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            try await client.send(ByteBuffer(string: "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + String(repeating: "b", count: 1 << 20) + "\r\n\r\n"))
            let answer = try await client.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 431"))
        }
    }

    /// A chunked body that grows past the limit gets 413 at once, not after an end that
    /// may never come.
    @Test func anOversizedChunkedBodyGets413AtOnce() async throws {
        try await withGuardedServer { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            let chunk = "100000\r\n" + String(repeating: "z", count: 0x100000) + "\r\n"
            try await client.send(ByteBuffer(string: "POST /api/publish/topic/shouts HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk + chunk))
            let answer = try await client.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 413"))
            #expect(answer.contains("messages are limited to"))
        }
    }

    /// A chunk that declares 2^64 − 1 bytes and a body that stops short both end in 408 once
    /// the body timeout passes (the decoder does not tell a declared chunk size in advance).
    @Test(arguments: ["Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFF\r\nhello\r\n", "Content-Length: 10\r\n\r\nabc"])
    func aBodyThatNeverEndsGets408(rest: String) async throws {
        try await withGuardedServer({ $0.httpBodyTimeout = .milliseconds(300) }) { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            try await client.send(ByteBuffer(string: "POST /api/publish/topic/shouts HTTP/1.1\r\nHost: h\r\n" + rest))
            let answer = try await client.readToEnd()
            #expect(answer.hasPrefix("HTTP/1.1 408"))
        }
    }

    // MARK: Fault 10: patterns and the access policy

    @Test(arguments: Transport.allCases)
    func patternsNeverDeliverWhatTheSubscriberCouldNotSubscribeTo(transport: Transport) async throws {
        let policy = AccessPolicy(
            anonymous: .init(subscribe: ["/topic/*"], send: ["/**"]),
            apiKey: .init(subscribe: ["/**"], send: ["/**"])
        )
        try await withGuardedServer({ $0.accessPolicy = policy }) { server in
            var direct = try await Client.open(transport, server)
            #expect(try await direct.connect()?.command == .connected)
            try await direct.send(StompFrame(.subscribe, headers: ["destination": "/topic/admin/secret", "id": "d"]))
            Self.expectError(try await direct.drainUntilClosed(), "permission denied")

            var pattern = try await Client.open(transport, server)
            #expect(try await pattern.connect()?.command == .connected)
            try await pattern.send(StompFrame(.subscribe, headers: ["destination": "/topic/#", "id": "p", "receipt": "r"]))
            #expect(try await pattern.next()?.command == .receipt)
            var publisher = try await Client.open(.tcp, server)
            #expect(try await publisher.connect()?.command == .connected)
            try await publisher.send(StompFrame(.send, headers: ["destination": "/topic/admin/secret"], body: ByteBuffer(string: "secret")))
            try await publisher.send(StompFrame(.send, headers: ["destination": "/topic/news"], body: ByteBuffer(string: "public")))
            #expect(try await pattern.next()?.bodyText == "public")
        }
    }

    // MARK: Fault 11: per-client memory

    @Test(arguments: Transport.allCases)
    func unacknowledgedMessagesAreBounded(transport: Transport) async throws {
        try await withGuardedServer({ $0.hub.maxUnacknowledgedMessages = 5 }) { server in
            var client = try await Client.open(transport, server)
            #expect(try await client.connect()?.command == .connected)
            try await client.send(StompFrame(.subscribe, headers: ["destination": "/topic/work", "id": "1", "ack": "client", "receipt": "r"]))
            #expect(try await client.next()?.command == .receipt)
            var publisher = try await Client.open(.tcp, server)
            #expect(try await publisher.connect()?.command == .connected)
            for index in 0..<6 {
                try await publisher.send(StompFrame(.send, headers: ["destination": "/topic/work"], body: ByteBuffer(string: "m\(index)")))
            }
            let frames = try await client.drainUntilClosed()
            #expect(frames.filter { $0.command == .message }.count == 5)
            Self.expectError(frames, "too many unacknowledged messages")
        }
    }

    @Test(arguments: Transport.allCases)
    func openTransactionsAreBounded(transport: Transport) async throws {
        try await withGuardedServer({ $0.hub.maxTransactionBytes = 64 * 1024 }) { server in
            var client = try await Client.open(transport, server)
            #expect(try await client.connect()?.command == .connected)
            try await client.send(StompFrame(.begin, headers: ["transaction": "t"]))
            for _ in 0..<5 {
                // The server may already have closed after the frame that crossed the limit.
                do {
                    try await client.send(StompFrame(.send, headers: ["destination": "/topic/t", "transaction": "t"], body: ByteBuffer(repeating: 0x61, count: 16 * 1024)))
                } catch {
                    break
                }
            }
            Self.expectError(try await client.drainUntilClosed(), "transaction too large")
        }
    }

    @Test func sockJSSessionsPerAddressAreBounded() async throws {
        try await withGuardedServer({ $0.sockJS.maxSessionsPerAddress = 3 }) { server in
            for _ in 0..<3 {
                var client = SockJSStompClient(port: server.httpPort)
                #expect(try await client.open().body == "o\n")
            }
            // Streaming transports are refused the same way, before their stream starts.
            var stream = SockJSStompClient(port: server.httpPort, receiving: .xhrStreaming)
            #expect(try await stream.open().status == 503)
            var fourth = SockJSStompClient(port: server.httpPort)
            let refused = try await fourth.open()
            #expect(refused.status == 503)
            #expect(refused.body.contains("too many SockJS sessions"))
        }
    }

    @Test func queuesThatMayExistAreBounded() async throws {
        try await withGuardedServer({ $0.hub.maxQueues = 2; $0.hub.maxQueuedMessages = 3 }) { server in
            var client = try await Client.open(.tcp, server)
            #expect(try await client.connect()?.command == .connected)
            for index in 0..<3 {
                try await client.send(StompFrame(.send, headers: ["destination": "/queue/q\(index % 2)", "receipt": "r\(index)"], body: ByteBuffer(string: "m")))
                #expect(try await client.next()?.command == .receipt)
            }
            try await client.send(StompFrame(.send, headers: ["destination": "/queue/third", "receipt": "x"], body: ByteBuffer(string: "m")))
            Self.expectError(try await client.drainUntilClosed(), "too many queues")
            var full = try await Client.open(.tcp, server)
            #expect(try await full.connect()?.command == .connected)
            for index in 0..<2 {
                try await full.send(StompFrame(.send, headers: ["destination": "/queue/q0", "receipt": "f\(index)"], body: ByteBuffer(string: "m")))
            }
            let frames = try await full.drainUntilClosed()
            Self.expectError(frames, "queue full")
            #expect(frames.filter { $0.command == .receipt }.count == 1)
        }
    }

    /// Found by a review attack: SEND + UNSUBSCRIBE + SUBSCRIBE (same id, now ack:auto) in one
    /// packet made the queue count a message in flight forever, until the queue refused every
    /// publish and then `max_queues` every new queue.
    @Test func reusingASubscriptionIDNeverWedgesAQueue() async throws {
        try await withGuardedServer({ $0.hub.maxQueuedMessages = 5; $0.hub.maxQueues = 3 }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var client = try await StompTestClient.connect(handle, over: .tcp)
            try await client.send(.subscribe, ["destination": "/queue/d1", "id": "1", "ack": "client-individual"])
            for round in 0..<5 {
                var packet = ByteBuffer()
                for frame in [
                    StompFrame(.send, headers: ["destination": "/queue/d1"], body: ByteBuffer(string: "m\(round)")),
                    StompFrame(.unsubscribe, headers: ["id": "1"]),
                    StompFrame(.subscribe, headers: ["destination": "/queue/d1", "id": "1", "ack": round % 2 == 0 ? "auto" : "client-individual"]),
                ] {
                    StompEncoder.encode(frame, version: .v1_2, into: &packet)
                }
                try await client.sendRaw(packet)
            }
            try await client.send(.disconnect, ["receipt": "bye"])
            var frames: [StompFrame] = []
            while let frame = try await client.next() { frames.append(frame) }
            #expect(frames.last?.headers["receipt-id"] == "bye")
            // An auto consumer takes whatever is left; once it leaves, nothing refers to the
            // queue, which must then be forgotten (a leaked in-flight count kept it forever).
            var drainer = try await StompTestClient.connect(handle, over: .tcp)
            try await drainer.send(.subscribe, ["destination": "/queue/d1", "id": "d", "receipt": "s"])
            while let frame = try await drainer.next(), frame.headers["receipt-id"] != "s" {}
            let loop = MultiThreadedEventLoopGroup.singleton.next()
            // Unsubscribe only once the drainer holds everything: a delivery still on its way
            // when the subscription ends comes back to the queue (by design), which would keep
            // the queue alive for a reason other than the leak this test is about.
            var drained = false
            for _ in 0..<500 where !drained {
                let depth = try await server.hub.queueDepth("d1", on: loop).get()
                drained = depth.map { $0.waiting == 0 && $0.inFlight == 0 } ?? true
                if !drained { try await loop.scheduleTask(in: .milliseconds(10)) {}.futureResult.get() }
            }
            #expect(drained)
            try await drainer.send(.unsubscribe, ["id": "d", "receipt": "u"])
            while let frame = try await drainer.next(), frame.headers["receipt-id"] != "u" {}
            var forgotten = false
            for _ in 0..<500 where !forgotten {
                forgotten = try await loop.submit { server.hub.queueTotal == 0 }.get()
                if !forgotten { try await loop.scheduleTask(in: .milliseconds(10)) {}.futureResult.get() }
            }
            #expect(forgotten, "the queue is still counted: \(server.hub.queueTotal)")
            for index in 0..<5 {
                let response = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/queue/d1", body: "n\(index)")
                #expect(response.status == 202, "publish \(index): \(response.status) \(response.body)")
            }
        }
    }

    // MARK: Fault 12: forged reserved headers

    @Test(arguments: Transport.allCases)
    func forgedReservedHeadersNeverReachSubscribers(transport: Transport) async throws {
        try await withGuardedServer { server in
            var subscriber = try await Client.open(transport, server)
            #expect(try await subscriber.connect()?.command == .connected)
            try await subscriber.send(StompFrame(.subscribe, headers: ["destination": "/topic/h", "id": "1", "receipt": "r"]))
            #expect(try await subscriber.next()?.command == .receipt)
            var publisher = try await Client.open(.tcp, server)
            #expect(try await publisher.connect()?.command == .connected)
            try await publisher.sendRaw(
                "SEND\ndestination:/topic/h\nDestination:/topic/forged\nMESSAGE-ID:forged\nsubscription :forged\nContent-Length:1\nAck:forged\n\nbody\0"
            )
            let message = try await subscriber.next()
            #expect(message?.command == .message)
            #expect(message?.bodyText == "body")
            #expect(message.map { Array($0.headers).contains { $0.value.contains("forged") } } == false)
        }
    }

    // MARK: Memory

    /// After every case above has run on this process, its resident memory stays bounded.
    @Test func residentMemoryStaysBounded() throws {
        let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        let kibibytes = Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
        #expect(kibibytes > 0)
        #expect(kibibytes < 512 * 1024, "RSS \(kibibytes) KiB")
    }
}
