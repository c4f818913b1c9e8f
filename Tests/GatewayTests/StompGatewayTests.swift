import Gateway
import Hub
import NIOCore
import Testing

/// STOMP through the whole gateway over real sockets: WebSocket, TCP and the HTTP API feeding
/// one hub.
@Suite(.timeLimit(.minutes(1)))
struct StompGatewayTests {
    private func withGateway(
        _ configure: (inout GatewayConfiguration) -> Void = { _ in },
        _ body: (GatewayServerHandle) async throws -> Void
    ) async throws {
        try await withTestServer(configure) { server in
            try await body(GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort))
        }
    }

    private func subscribe(_ client: inout StompTestClient, _ destination: String, id: String = "s", ack: String = "auto") async throws {
        try await client.send(.subscribe, ["destination": destination, "id": id, "ack": ack, "receipt": "sub-\(id)"])
        let receipt = try await client.next()
        #expect(receipt?.command == .receipt)
        #expect(receipt?.headers["receipt-id"] == "sub-\(id)")
    }

    private func sendWithReceipt(_ client: inout StompTestClient, _ destination: String, _ body: String, extra: StompHeaders = [:]) async throws {
        var headers: StompHeaders = ["destination": destination, "receipt": "send-\(body)"]
        for (name, value) in extra { headers.add(name, value) }
        try await client.send(.send, headers, body: body)
        let receipt = try await client.next()
        #expect(receipt?.command == .receipt)
        #expect(receipt?.headers["receipt-id"] == "send-\(body)")
    }

    @Test func fansOutAcrossEveryTransport() async throws {
        // An admin key: the destination listing below needs one.
        try await withGateway({
            $0.apiKeys = ["ops": "ops-secret-1"]
            $0.apiKeyRoles = ["ops": ["admin"]]
        }) { server in
            var tcp = try await StompTestClient.connect(server, over: .tcp)
            var ws = try await StompTestClient.connect(server, over: .webSocket)
            try await subscribe(&tcp, "/topic/shouts", id: "t")
            try await subscribe(&ws, "/topic/shouts", id: "w")

            // WebSocket → both (the sender is subscribed too).
            try await ws.send(.send, ["destination": "/topic/shouts", "content-type": "text/plain", "x-mood": "loud"], body: "from ws")
            let overTCP0 = try #require(try await tcp.next())
            let overWS0 = try #require(try await ws.next())
            for message in [overTCP0, overWS0] {
                #expect(message.command == .message)
                #expect(message.bodyText == "from ws")
                #expect(message.headers["destination"] == "/topic/shouts")
                #expect(message.headers["content-type"] == "text/plain")
                #expect(message.headers["x-mood"] == "loud")
                #expect(message.headers["message-id"] != nil)
            }
            #expect(overTCP0.headers["subscription"] == "t")
            #expect(overWS0.headers["subscription"] == "w")

            // HTTP API → both.
            let response = try await HTTPTestClient.request(
                port: server.httpPort, method: "POST", path: "/api/publish/topic/shouts",
                headers: ["Content-Type: text/plain", "X-Stomp-Priority: 9", "Authorization: Bearer ops-secret-1"], body: "from http"
            )
            #expect(response.status == 202)
            #expect(response.body.contains("\"delivered\":2"))
            let overTCP = try #require(try await tcp.next())
            let overWS = try #require(try await ws.next())
            #expect(overTCP.bodyText == "from http")
            #expect(overWS.bodyText == "from http")
            #expect(overTCP.headers["priority"] == "9")
            #expect(overTCP.headers["message-id"] == overWS.headers["message-id"])

            // TCP → both.
            try await tcp.send(.send, ["destination": "/topic/shouts"], body: "from tcp")
            #expect(try await ws.next()?.bodyText == "from tcp")
            #expect(try await tcp.next()?.bodyText == "from tcp")

            let listing = try await HTTPTestClient.request(
                port: server.httpPort, method: "GET", path: "/api/destinations", headers: ["Authorization: Bearer ops-secret-1"]
            )
            #expect(listing.body.contains("{\"destination\":\"/topic/shouts\",\"subscribers\":2}"))
            await tcp.close()
            await ws.close()
        }
    }

    @Test func routesWildcards() async throws {
        try await withGateway { server in
            var one = try await StompTestClient.connect(server, over: .tcp)
            var many = try await StompTestClient.connect(server, over: .tcp)
            var publisher = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&one, "/topic/stocks.*")
            try await subscribe(&many, "/topic/stocks.#")
            try await sendWithReceipt(&publisher, "/topic/stocks.nyse.ibm", "deep")
            try await sendWithReceipt(&publisher, "/topic/stocks.ibm", "shallow")
            #expect(try await one.next()?.bodyText == "shallow")
            #expect(try await many.next()?.bodyText == "deep")
            #expect(try await many.next()?.bodyText == "shallow")
        }
    }

    @Test func queuesHoldThenRoundRobin() async throws {
        try await withGateway { server in
            var publisher = try await StompTestClient.connect(server, over: .tcp)
            try await sendWithReceipt(&publisher, "/queue/jobs", "held-1")
            try await sendWithReceipt(&publisher, "/queue/jobs", "held-2")
            var first = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&first, "/queue/jobs")
            #expect(try await first.next()?.bodyText == "held-1")
            #expect(try await first.next()?.bodyText == "held-2")
            var second = try await StompTestClient.connect(server, over: .webSocket)
            try await subscribe(&second, "/queue/jobs")
            // Wait until the owner has registered the second consumer.
            try await Task.sleep(for: .milliseconds(100))
            for index in 0..<4 { try await sendWithReceipt(&publisher, "/queue/jobs", "job-\(index)") }
            let a = [try await first.next()?.bodyText, try await first.next()?.bodyText]
            let b = [try await second.next()?.bodyText, try await second.next()?.bodyText]
            #expect(Set((a + b).compactMap { $0 }) == ["job-0", "job-1", "job-2", "job-3"])
        }
    }

    @Test func clientIndividualNackRedeliversToAnotherConsumer() async throws {
        try await withGateway { server in
            var picky = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&picky, "/queue/work", ack: "client-individual")
            var publisher = try await StompTestClient.connect(server, over: .tcp)
            try await sendWithReceipt(&publisher, "/queue/work", "task")
            let delivered = try #require(try await picky.next())
            let ackID = try #require(delivered.headers["ack"])
            var other = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&other, "/queue/work", ack: "auto")
            try await Task.sleep(for: .milliseconds(100))
            try await picky.send(.nack, ["id": ackID, "receipt": "n"])
            #expect(try await other.next()?.bodyText == "task")
        }
    }

    @Test func unackedQueueMessagesReturnWhenTheConsumerLeaves() async throws {
        try await withGateway { server in
            var consumer = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&consumer, "/queue/orders", ack: "client")
            var publisher = try await StompTestClient.connect(server, over: .tcp)
            try await sendWithReceipt(&publisher, "/queue/orders", "order-1")
            try await sendWithReceipt(&publisher, "/queue/orders", "order-2")
            let first = try #require(try await consumer.next())
            _ = try #require(try await consumer.next())
            // Cumulative ACK of the first only; the second stays unacknowledged.
            try await consumer.send(.ack, ["id": try #require(first.headers["ack"]), "receipt": "a"])
            #expect(try await consumer.next()?.command == .receipt)
            await consumer.close()
            var successor = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&successor, "/queue/orders")
            #expect(try await successor.next()?.bodyText == "order-2")
        }
    }

    @Test func transactionsDeliverAtCommitOnly() async throws {
        try await withGateway { server in
            var subscriber = try await StompTestClient.connect(server, over: .tcp)
            try await subscribe(&subscriber, "/topic/tx")
            var sender = try await StompTestClient.connect(server, over: .webSocket)
            try await sender.send(.begin, ["transaction": "t1"])
            try await sender.send(.send, ["destination": "/topic/tx", "transaction": "t1"], body: "in t1")
            try await sender.send(.begin, ["transaction": "t2"])
            try await sender.send(.send, ["destination": "/topic/tx", "transaction": "t2"], body: "in t2")
            try await sender.send(.abort, ["transaction": "t2"])
            try await sendWithReceipt(&sender, "/topic/tx", "outside")
            #expect(try await subscriber.next()?.bodyText == "outside")
            try await sender.send(.commit, ["transaction": "t1", "receipt": "c"])
            #expect(try await sender.next()?.headers["receipt-id"] == "c")
            #expect(try await subscriber.next()?.bodyText == "in t1")
            try await sendWithReceipt(&sender, "/topic/tx", "after")
            #expect(try await subscriber.next()?.bodyText == "after")  // "in t2" was never delivered
        }
    }

    @Test func dropsASilentClientButNotABeatingOne() async throws {
        try await withGateway({
            $0.hub.heartbeatReceiveMilliseconds = 300
            $0.hub.heartbeatSendMilliseconds = 100
            $0.hub.heartbeatTolerance = 2
        }) { server in
            var silent = try await StompTestClient.connect(server, over: .tcp, headers: ["accept-version": "1.2", "host": "h", "heart-beat": "300,300"])
            var beating = try await StompTestClient.connect(server, over: .webSocket, headers: ["accept-version": "1.2", "host": "h", "heart-beat": "300,300"])
            // Beats every 60 ms against a 600 ms allowance: a loaded machine keeps it alive.
            for _ in 0..<16 {
                try await beating.sendRaw(ByteBuffer(string: "\n"))
                try await Task.sleep(for: .milliseconds(60))
            }
            let frames = try await silent.drainUntilClosed()
            #expect(frames.last?.command == .error)
            #expect(frames.last?.headers["message"] == "heart-beat timeout")
            try await sendWithReceipt(&beating, "/topic/alive", "still connected")
        }
    }

    @Test(arguments: [
        ("SEND\ndestination:/topic/a\n\n\u{0}", "not connected"),
        ("CONNECT\naccept-version:2.0\nhost:h\n\n\u{0}", "unsupported version"),
    ])
    func refusesBeforeConnect(raw: String, message: String) async throws {
        try await withGateway { server in
            var client = try await StompTestClient.open(server, over: .tcp)
            var bystander = try await StompTestClient.connect(server, over: .tcp)
            try await client.sendRaw(ByteBuffer(string: raw))
            let frames = try await client.drainUntilClosed()
            #expect(frames.last?.command == .error)
            #expect(frames.last?.headers["message"] == message)
            try await sendWithReceipt(&bystander, "/topic/ok", "unaffected")
        }
    }

    @Test(arguments: [
        ("FROB\n\n\u{0}", "unknown command"),
        ("SEND\nreceipt:r9\n\nno destination\u{0}", "missing header destination"),
        ("SUBSCRIBE\ndestination:/topic/a\n\n\u{0}", "missing header id"),
        ("SEND\ndestination:/nowhere\n\n\u{0}", "invalid destination"),
        ("SEND\ndestination:/topic/a\nx:bad\\tescape\n\n\u{0}", "bad escape"),
        ("SEND\ndestination:/topic/a\n\n" + String(repeating: "x", count: 2_000) + "\u{0}", "frame too large"),
        ("SEND\ndestination:/topic/readonly\n\nhi\u{0}", "permission denied"),
        ("COMMIT\ntransaction:nope\n\n\u{0}", "unknown transaction"),
        ("SEND\n" + (0..<70).map { "h\($0):v\n" }.joined() + "destination:/topic/a\n\n\u{0}", "too many headers"),
        ("SEND\nno colon\n\n\u{0}", "malformed frame"),
    ])
    func answersBadFramesWithErrorAndCloses(raw: String, message: String) async throws {
        try await withGateway({
            $0.hub.limits.maxFrameSize = 1_024
            $0.accessPolicy = nil
            $0.hub.gatekeeper = ReadOnlyGatekeeper()
        }) { server in
            for transport in [StompTestClient.Transport.tcp, .webSocket] {
                var client = try await StompTestClient.connect(server, over: transport)
                var bystander = try await StompTestClient.connect(server, over: .tcp)
                try await client.sendRaw(ByteBuffer(string: raw))
                let frames = try await client.drainUntilClosed()
                let error = try #require(frames.last)
                #expect(error.command == .error)
                #expect(error.headers["message"] == message)
                #expect(!error.bodyText.isEmpty)
                if raw.contains("receipt:r9") { #expect(error.headers["receipt-id"] == "r9") }
                try await sendWithReceipt(&bystander, "/topic/ok", "unaffected")
            }
        }
    }

    @Test func publishAPIChecksKeysAndInput() async throws {
        try await withGateway({ $0.apiKeys = ["backend": "s3cret"] }) { server in
            let port = server.httpPort
            let missing = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/topic/a", body: "x")
            #expect(missing.status == 401)
            #expect(missing.body.contains("\"error\""))
            let wrong = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/topic/a", headers: ["Authorization: Bearer nope"], body: "x")
            #expect(wrong.status == 403)
            let good = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/topic/a", headers: ["Authorization: Bearer s3cret"], body: "x")
            #expect(good.status == 202)
            #expect(good.body.contains("\"message-id\""))
            let badDestination = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/elsewhere", headers: ["Authorization: Bearer s3cret"], body: "x")
            #expect(badDestination.status == 400)
            let form = try await HTTPTestClient.request(
                port: port, method: "POST", path: "/api/publish/topic/a",
                headers: ["Authorization: Bearer s3cret", "Content-Type: multipart/form-data; boundary=x"], body: "x"
            )
            #expect(form.status == 415)
            let tooLarge = try await HTTPTestClient.request(
                port: port, method: "POST", path: "/api/publish/topic/a",
                headers: ["Authorization: Bearer s3cret"], body: String(repeating: "x", count: (1 << 20) + 1)
            )
            #expect(tooLarge.status == 413)
        }
    }

    @Test func loopbackMayPublishWithoutKeys() async throws {
        try await withGateway { server in
            let response = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/queue/q", body: "x")
            #expect(response.status == 202)
            #expect(response.body.contains("\"queued\":true"))
        }
    }
}


/// Allows everything but sending to a destination named `readonly`.
private struct ReadOnlyGatekeeper: StompGatekeeper {
    func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> { .decided(.success(.anonymous)) }

    func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        !(action == .send && destination.name == "readonly")
    }

    func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool { false }

    func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> { .decided(.success(.allow)) }
}
