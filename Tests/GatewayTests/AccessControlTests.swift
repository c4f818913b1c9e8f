import Gateway
import Hub
import NIOCore
import Testing

/// The access policy holds on every transport: WebSocket, TCP and the HTTP API.
@Suite(.timeLimit(.minutes(1)))
struct AccessControlTests {
    private func withGateway(_ body: (GatewayServerHandle) async throws -> Void) async throws {
        try await withTestServer({
            $0.accessPolicy = .standard
            $0.apiKeys = ["backend": "s3cret-key"]
        }) { server in
            try await body(GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort))
        }
    }

    @Test(arguments: [StompTestClient.Transport.tcp, .webSocket])
    func anonymousClientsFollowTheRules(transport: StompTestClient.Transport) async throws {
        try await withGateway { server in
            var browser = try await StompTestClient.connect(server, over: transport)
            try await browser.send(.subscribe, ["destination": "/topic/anything", "id": "1", "receipt": "r1"])
            #expect(try await browser.next()?.command == .receipt)
            try await browser.send(.send, ["destination": "/topic/shouts", "receipt": "r2"], body: "ok")
            #expect(try await browser.next()?.command == .receipt)
            try await browser.send(.send, ["destination": "/topic/anything"], body: "not allowed")
            let error = try await browser.drainUntilClosed().last
            #expect(error?.command == .error)
            #expect(error?.headers["message"] == "permission denied")

            var queueReader = try await StompTestClient.connect(server, over: transport)
            try await queueReader.send(.subscribe, ["destination": "/queue/jobs", "id": "1"])
            #expect(try await queueReader.drainUntilClosed().last?.headers["message"] == "permission denied")
        }
    }

    @Test(arguments: [StompTestClient.Transport.tcp, .webSocket])
    func apiKeyHoldersMayDoEverything(transport: StompTestClient.Transport) async throws {
        try await withGateway { server in
            var backend = try await StompTestClient.connect(
                server, over: transport,
                headers: ["accept-version": "1.2", "host": "h", "login": "backend", "passcode": "s3cret-key"]
            )
            try await backend.send(.subscribe, ["destination": "/queue/jobs", "id": "1", "receipt": "r1"])
            #expect(try await backend.next()?.command == .receipt)
            try await backend.send(.send, ["destination": "/topic/anything", "receipt": "r2"], body: "ok")
            #expect(try await backend.next()?.command == .receipt)

            var impostor = try await StompTestClient.connect(
                server, over: transport,
                headers: ["accept-version": "1.2", "host": "h", "passcode": "wrong"],
                expectConnected: false
            )
            #expect(try await impostor.drainUntilClosed().last?.headers["message"] == "unauthorized")
        }
    }

    @Test func theHTTPAPIAppliesTheSendRules() async throws {
        try await withGateway { server in
            let allowed = try await HTTPTestClient.request(
                port: server.httpPort, method: "POST", path: "/api/publish/queue/jobs",
                headers: ["Authorization: Bearer s3cret-key"], body: "x"
            )
            #expect(allowed.status == 202)
        }
    }
}
