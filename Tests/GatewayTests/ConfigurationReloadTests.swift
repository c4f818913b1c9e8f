import Hub
import NIOCore
import Testing
@testable import Gateway

/// `GatewayServer.reload`: what a reload changes for open and new connections, and that a
/// refused reload changes nothing.
@Suite(.timeLimit(.minutes(1)))
struct ConfigurationReloadTests {
    /// The standard rules and one API key, as a configuration file would give them.
    private static func configure(_ configuration: inout GatewayConfiguration) {
        configuration.accessPolicy = .standard
        configuration.apiKeys = ["backend": "key-a"]
    }

    /// The configuration the server runs, with `change` applied: what a reload reads.
    private static func reloaded(from server: GatewayServer, _ change: (inout GatewayConfiguration) -> Void) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.stompPort = -1
        configuration.conformance = true
        configure(&configuration)
        change(&configuration)
        return configuration
    }

    private static func publish(_ server: GatewayServer, to topic: String, key: String, body: String) async throws -> Int {
        try await HTTPTestClient.request(
            port: server.httpPort, method: "POST", path: "/api/publish/topic/\(topic)",
            headers: ["Authorization: Bearer \(key)"], body: body
        ).status
    }

    @Test(arguments: [StompTestClient.Transport.tcp, .webSocket])
    func aRemovedPermissionAppliesToTheNextSubscribeWhileOpenSessionsStay(transport: StompTestClient.Transport) async throws {
        try await withTestServer(Self.configure) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var subscriber = try await StompTestClient.connect(handle, over: transport)
            try await subscriber.send(.subscribe, ["destination": "/topic/news", "id": "1", "receipt": "r1"])
            #expect(try await subscriber.next()?.command == .receipt)
            var idle = try await StompTestClient.connect(handle, over: transport)

            try await server.reload(Self.reloaded(from: server) {
                $0.accessPolicy?.anonymous.subscribe = ["/topic/public/**"]
            })

            // The subscription made before the reload stays, and its connection is open.
            #expect(try await Self.publish(server, to: "news", key: "key-a", body: "after") == 202)
            let message = try await subscriber.next()
            #expect(message?.command == .message)
            #expect(message.map { String(buffer: $0.body) } == "after")
            // A session opened before the reload follows the new rules from its next SUBSCRIBE.
            try await idle.send(.subscribe, ["destination": "/topic/news", "id": "1"])
            let refusal = try await idle.drainUntilClosed().last
            #expect(refusal?.command == .error)
            #expect(refusal?.headers["message"] == "permission denied")
            // And so does a new one; what the new rules allow still works.
            var fresh = try await StompTestClient.connect(handle, over: transport)
            try await fresh.send(.subscribe, ["destination": "/topic/public/a", "id": "1", "receipt": "r2"])
            #expect(try await fresh.next()?.command == .receipt)
            try await fresh.send(.subscribe, ["destination": "/topic/news", "id": "2"])
            #expect(try await fresh.drainUntilClosed().last?.headers["message"] == "permission denied")
            await subscriber.close()
        }
    }

    @Test func anAPIKeyAddedOrRemovedAppliesToTheHTTPAPIAtOnce() async throws {
        try await withTestServer(Self.configure) { server in
            #expect(try await Self.publish(server, to: "news", key: "key-a", body: "x") == 202)
            #expect(try await Self.publish(server, to: "news", key: "key-b", body: "x") == 403)

            try await server.reload(Self.reloaded(from: server) { $0.apiKeys = ["backend": "key-b"] })

            #expect(try await Self.publish(server, to: "news", key: "key-a", body: "x") == 403)
            #expect(try await Self.publish(server, to: "news", key: "key-b", body: "x") == 202)
            let missing = try await HTTPTestClient.request(port: server.httpPort, method: "POST", path: "/api/publish/topic/news", body: "x")
            #expect(missing.status == 401)
        }
    }

    /// Rotating a leaked key cuts off its open sessions; a session of another key stays.
    @Test func aRevokedAPIKeyEndsTheSessionsThatConnectedWithIt() async throws {
        try await withTestServer({
            Self.configure(&$0)
            $0.apiKeys["other"] = "key-other"
        }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            let credentials: StompHeaders = ["accept-version": "1.2", "host": "h", "login": "backend", "passcode": "key-a"]
            var backend = try await StompTestClient.connect(handle, over: .tcp, headers: credentials)
            var other = try await StompTestClient.connect(handle, over: .tcp, headers: ["accept-version": "1.2", "host": "h", "passcode": "key-other"])

            try await server.reload(Self.reloaded(from: server) { $0.apiKeys = ["other": "key-other"] })

            let farewell = try #require(try await backend.drainUntilClosed().last)
            #expect(farewell.command == StompCommand.error)
            #expect(farewell.headers["message"] == "unauthorized")
            #expect(String(buffer: farewell.body).contains("revoked"))
            try await other.send(.subscribe, ["destination": "/queue/jobs", "id": "1", "receipt": "r1"])
            #expect(try await other.next()?.command == .receipt)
            var late = try await StompTestClient.connect(handle, over: .tcp, headers: credentials, expectConnected: false)
            #expect(try await late.drainUntilClosed().last?.headers["message"] == "unauthorized")
            await other.close()
        }
    }

    @Test func aBadJWTKeyRefusesTheWholeReload() async throws {
        try await withTestServer(Self.configure) { server in
            let bad = Self.reloaded(from: server) {
                $0.apiKeys = ["backend": "key-b"]
                $0.accessPolicy?.anonymous.subscribe = []
                $0.jwt.publicKeyPEM = "-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n"
            }
            let error = await #expect(throws: ConfigurationError.self) { try await server.reload(bad) }
            #expect(error?.key == "auth.jwt.public_key_file")

            // Nothing of it applied: the old key and rules still hold.
            #expect(try await Self.publish(server, to: "news", key: "key-a", body: "x") == 202)
            #expect(try await Self.publish(server, to: "news", key: "key-b", body: "x") == 403)
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var browser = try await StompTestClient.connect(handle, over: .webSocket)
            try await browser.send(.subscribe, ["destination": "/topic/news", "id": "1", "receipt": "r1"])
            #expect(try await browser.next()?.command == .receipt)
            await browser.close()
        }
    }

    @Test func aMissingCertificateRefusesTheWholeReloadWithTheErrorOfAStart() async throws {
        let folder = try TLSFixtures.makeFolder()
        try TLSFixtures.write(TLSFixtures.certificate, to: folder + "/cert.pem")
        try TLSFixtures.write(TLSFixtures.key, to: folder + "/key.pem")
        let files = TLSCertificateFiles(certificateFile: folder + "/cert.pem", privateKeyFile: folder + "/key.pem")
        try await withTestServer({
            Self.configure(&$0)
            $0.tls = files
            $0.stompTLSPort = 0
        }) { server in
            var missing = files
            missing.certificateFile = folder + "/missing.pem"
            let bad = Self.reloaded(from: server) {
                $0.tls = missing
                $0.stompTLSPort = 0
                $0.apiKeys = ["backend": "key-b"]
            }
            let error = await #expect(throws: ConfigurationError.self) { try await server.reload(bad) }
            // The text a start with this configuration fails with.
            let atStart = #expect(throws: ConfigurationError.self) { _ = try missing.makeContext() }
            #expect(error?.description == atStart?.description)
            #expect(error?.key == "tls.cert_file")
            // The old key still works (over HTTPS, so only check that the listener answers).
            let client = try await RawWebSocketClient.connect(port: server.httpPort)
            await client.close()
            #expect(server.usesTLS)
        }
    }

    @Test func limitsApplyToSessionsOpenedAfterTheReload() async throws {
        try await withTestServer(Self.configure) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var before = try await StompTestClient.connect(handle, over: .tcp)

            try await server.reload(Self.reloaded(from: server) { $0.hub.maxSubscriptions = 1 })

            for id in ["1", "2"] {
                try await before.send(.subscribe, ["destination": "/topic/\(id)", "id": id, "receipt": "r\(id)"])
                #expect(try await before.next()?.command == .receipt)
            }
            var after = try await StompTestClient.connect(handle, over: .tcp)
            try await after.send(.subscribe, ["destination": "/topic/1", "id": "1", "receipt": "r1"])
            #expect(try await after.next()?.command == .receipt)
            try await after.send(.subscribe, ["destination": "/topic/2", "id": "2"])
            #expect(try await after.drainUntilClosed().last?.command == .error)
            await before.close()
        }
    }

    @Test func aReplacedHookClientGivesWayToTheNewSettings() async throws {
        try await withTestServer({
            Self.configure(&$0)
            // Nothing listens on port 1: every connect hook call fails, closed.
            $0.hooks.connect = "http://127.0.0.1:1/connect"
            $0.hooks.timeoutMilliseconds = 500
        }) { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            var refused = try await StompTestClient.connect(handle, over: .tcp, expectConnected: false)
            #expect(try await refused.drainUntilClosed().last?.headers["message"] == "authorization unavailable")

            try await server.reload(Self.reloaded(from: server) { _ in })

            let admitted = try await StompTestClient.connect(handle, over: .tcp)
            await admitted.close()
            // Back on: a new hook client, the retired one shut down by now or by `stop`.
            try await server.reload(Self.reloaded(from: server) {
                $0.hooks.connect = "http://127.0.0.1:1/connect"
                $0.hooks.timeoutMilliseconds = 500
            })
            var again = try await StompTestClient.connect(handle, over: .tcp, expectConnected: false)
            #expect(try await again.drainUntilClosed().last?.headers["message"] == "authorization unavailable")
        }
    }

    @Test func concurrentReloadsAllComplete() async throws {
        try await withTestServer(Self.configure) { server in
            let keys = (0..<8).map { "key-\($0)" }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for key in keys {
                    let configuration = Self.reloaded(from: server) { $0.apiKeys = ["backend": key] }
                    group.addTask { try await server.reload(configuration) }
                }
                try await group.waitForAll()
            }
            // Exactly one of the keys is in force, whichever reload ran last.
            var working = 0
            for key in keys where try await Self.publish(server, to: "news", key: key, body: "x") == 202 {
                working += 1
            }
            #expect(working == 1)
        }
    }

    /// Issue 11: `channels` and `limits.max_history_bytes` reach the hub at once.
    @Test func channelsApplyAtOnce() async throws {
        try await withTestServer(Self.configure) { server in
            let shouts = try #require(Destination("/topic/shouts"))
            #expect(server.hub.configuration.channelPolicy(shouts) == .none)
            #expect(try await HTTPTestClient.request(port: server.httpPort, method: "GET", path: "/api/presence/topic/shouts").status == 404)
            let reloaded = Self.reloaded(from: server) {
                $0.channels = ChannelRules([.init(glob: "/topic/shouts", policy: ChannelPolicy(history: 5, presence: true))])
                $0.hub.maxHistoryBytes = 1 << 20
            }
            let changes = ConfigurationChanges(from: GatewayConfiguration(), to: reloaded)
            #expect(changes.applied.contains("channels"))
            #expect(changes.applied.contains("limits.max_history_bytes"))
            #expect(!changes.applied.contains { $0.hasPrefix("limits, timeouts") })
            try await server.reload(reloaded)
            #expect(server.hub.configuration.channelPolicy(shouts) == ChannelPolicy(history: 5, presence: true))
            #expect(server.hub.configuration.maxHistoryBytes == 1 << 20)
            // The presence API answers for it at once (needs the hub core of issue 11).
            #expect(try await HTTPTestClient.request(port: server.httpPort, method: "GET", path: "/api/presence/topic/shouts").status == 200)
        }
    }
}
