import Foundation
@testable import Gateway
import Hub
import NIOCore
import Testing

/// Issue 10 items 6 and 7: API key roles, the admin API over real sockets on several
/// transports, and the `$sys` topics' access rule.
@Suite(.timeLimit(.minutes(1)))
struct AdminAPITests {
    static let adminKey = "admin-secret-1"
    static let backendKey = "backend-secret"
    static let admin = ["Authorization: Bearer \(adminKey)"]

    private func withGateway(_ body: (GatewayServerHandle) async throws -> Void) async throws {
        try await withTestServer({
            $0.accessPolicy = .standard
            $0.apiKeys = ["ops": Self.adminKey, "backend": Self.backendKey, "other": "other-secret"]
            $0.apiKeyRoles = ["ops": ["admin"]]
            $0.statsInterval = .milliseconds(100)
        }) { server in
            try await body(GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort))
        }
    }

    private static func connect(
        _ server: GatewayServerHandle,
        over transport: StompTestClient.Transport,
        key: String? = nil
    ) async throws -> (StompTestClient, String) {
        var headers: StompHeaders = ["accept-version": "1.2", "host": "h"]
        if let key { headers.add("passcode", key) }
        var client = try await StompTestClient.open(server, over: transport)
        try await client.send(StompFrame(.connect, headers: headers))
        let connected = try #require(try await client.next())
        #expect(connected.command == .connected)
        return (client, try #require(connected.headers["session"]))
    }

    private static func json(_ response: HTTPTestClient.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any])
    }

    private static func request(_ server: GatewayServerHandle, _ method: String, _ path: String, headers: [String] = admin) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.request(port: server.httpPort, method: method, path: path, headers: headers)
    }

    private static func expectDisconnected(_ frames: [StompFrame]) {
        #expect(frames.last?.command == .error)
        #expect(frames.last?.headers["message"] == "disconnected by administrator")
    }

    // MARK: Configuration

    @Test func apiKeysMayCarryRoles() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            api_keys:
              backend: "0123456789"
              ops: {secret: "abcdefghij", roles: [admin]}
              plain: {secret: "klmnopqrst"}
            """,
            file: "test.yaml"
        )
        #expect(configuration.apiKeys == ["backend": "0123456789", "ops": "abcdefghij", "plain": "klmnopqrst"])
        #expect(configuration.apiKeyRoles == ["ops": ["admin"]])

        func error(_ yaml: String) -> ConfigurationError? {
            do {
                _ = try ConfigurationLoader.parse(yaml, file: "test.yaml")
                return nil
            } catch {
                return error
            }
        }
        let unknownRole = try #require(error("api_keys:\n  ops: {secret: abcdefghij, roles: [root]}\n"))
        #expect(unknownRole.key == "api_keys.ops.roles")
        #expect(unknownRole.problem == "expected one of admin, got \"root\"")
        #expect(error("api_keys:\n  ops: {roles: [admin]}\n")?.key == "api_keys.ops.secret")
        #expect(error("api_keys:\n  ops: {secret: short, roles: [admin]}\n")?.key == "api_keys.ops")
        #expect(error("api_keys:\n  ops: {secret: abcdefghij, role: [admin]}\n")?.key == "api_keys.ops.role")
        #expect(error("api_keys:\n  ops: {secret: abcdefghij, roles: admin}\n")?.key == "api_keys.ops.roles")
    }

    // MARK: Who may ask

    static let endpoints: [(String, String)] = [
        ("GET", "/api/sessions"),
        ("GET", "/api/sessions?user=alice"),
        ("DELETE", "/api/sessions/session-none"),
        ("DELETE", "/api/users/alice/sessions"),
        ("GET", "/api/users/alice/sessions"),
        ("DELETE", "/api/sessions/session-none/subscriptions?destination=%2Ftopic%2Fa"),
        ("GET", "/api/destinations"),
    ]

    @Test func everyEndpointNeedsAnAdminKey() async throws {
        try await withGateway { server in
            for (method, path) in Self.endpoints {
                let missing = try await Self.request(server, method, path, headers: [])
                #expect(missing.status == 401, "\(method) \(path)")
                #expect(try Self.json(missing)["error"] as? String == "missing Authorization: Bearer <admin API key>")
                let unknown = try await Self.request(server, method, path, headers: ["Authorization: Bearer not-a-key"])
                #expect(unknown.status == 401, "\(method) \(path)")
                #expect(try Self.json(unknown)["error"] as? String == "unknown API key")
                let notBearer = try await Self.request(server, method, path, headers: ["Authorization: Basic b3BzOng="])
                #expect(notBearer.status == 401, "\(method) \(path)")
                let publisher = try await Self.request(server, method, path, headers: ["Authorization: Bearer \(Self.backendKey)"])
                #expect(publisher.status == 403, "\(method) \(path)")
                #expect(try Self.json(publisher)["error"] as? String == "this API key lacks the admin role")
                let admin = try await Self.request(server, method, path)
                #expect(admin.status == (path.contains("session-none") ? 404 : 200), "\(method) \(path)")
                #expect(admin.header("Content-Type") == "application/json")
                #expect(try Self.json(admin).isEmpty == false)
            }
        }
    }

    @Test func theOriginPolicyAppliesToTheAdminAPI() async throws {
        try await withGateway { server in
            let foreign = try await Self.request(server, "GET", "/api/sessions", headers: Self.admin + ["Origin: http://evil.example"])
            #expect(foreign.status == 403)
            #expect(foreign.body == "origin http://evil.example is not allowed\n")
        }
    }

    @Test func wrongMethodsAndUnknownPaths() async throws {
        try await withGateway { server in
            let put = try await Self.request(server, "POST", "/api/sessions")
            #expect(put.status == 405)
            #expect(put.header("Allow") == "GET, HEAD")
            let get = try await Self.request(server, "GET", "/api/sessions/session-1")
            #expect(get.status == 405)
            #expect(get.header("Allow") == "DELETE")
            #expect(try await Self.request(server, "GET", "/api/users/alice").status == 404)
            #expect(try await Self.request(server, "GET", "/api/sessions/").status == 405)
            #expect(try await Self.request(server, "DELETE", "/api/sessions/").status == 404)
            let noDestination = try await Self.request(server, "DELETE", "/api/sessions/session-1/subscriptions")
            #expect(noDestination.status == 400)
        }
    }

    @Test func malformedPercentEncodingIsRefused() async throws {
        try await withGateway { server in
            for path in [
                "/api/users/%zz/sessions",
                "/api/users/%C3%28/sessions",  // not UTF-8
                "/api/users/ab%4/sessions",
                "/api/users/\(String(repeating: "u", count: 257))/sessions",
                "/api/sessions/\(String(repeating: "s", count: 129))",
                "/api/sessions/session-1/subscriptions?destination=%G1",
            ] {
                let answer = try await Self.request(server, "DELETE", path)
                #expect(answer.status == 400, "\(path)")
                #expect((try Self.json(answer)["error"] as? String)?.isEmpty == false)
            }
            #expect(try await Self.request(server, "GET", "/api/sessions?user=%FF").status == 400)
            #expect(try await Self.request(server, "GET", "/api/sessions?user=").status == 400)
        }
    }

    @Test func percentDecoding() {
        #expect(PercentEncoding.decode("a%2Fb+c", plusIsSpace: false, maxBytes: 10) == "a/b+c")
        #expect(PercentEncoding.decode("a%2fb+c", plusIsSpace: true, maxBytes: 10) == "a/b c")
        #expect(PercentEncoding.decode("%C3%A9", plusIsSpace: false, maxBytes: 2) == "é")
        #expect(PercentEncoding.decode("%C3%A9", plusIsSpace: false, maxBytes: 1) == nil)
        #expect(PercentEncoding.decode("%", plusIsSpace: false, maxBytes: 10) == nil)
        #expect(PercentEncoding.decode("%A", plusIsSpace: false, maxBytes: 10) == nil)
        #expect(PercentEncoding.decode("%C3", plusIsSpace: false, maxBytes: 10) == nil)
        #expect(PercentEncoding.decode("", plusIsSpace: false, maxBytes: 0) == "")
        #expect(PercentEncoding.query("user=a%20b&x&user=c", maxBytes: 10) == ["user": "a b", "x": ""])
        #expect(PercentEncoding.query("user=%", maxBytes: 10) == nil)
    }

    // MARK: What admins see and do

    @Test func listsSessionsWithTransportSubscriptionsAndTraffic() async throws {
        try await withGateway { server in
            var (backend, backendID) = try await Self.connect(server, over: .webSocket, key: Self.backendKey)
            try await backend.send(.subscribe, ["destination": "/topic/a", "id": "1", "receipt": "r"])
            #expect(try await backend.next()?.command == .receipt)
            var (anonymous, anonymousID) = try await Self.connect(server, over: .tcp)
            try await anonymous.send(.send, ["destination": "/topic/shouts", "receipt": "r"], body: "hi")
            #expect(try await anonymous.next()?.command == .receipt)

            let listing = try Self.json(try await Self.request(server, "GET", "/api/sessions"))
            let sessions = try #require(listing["sessions"] as? [[String: Any]])
            let listed = try #require(sessions.first { $0["id"] as? String == backendID })
            #expect(listed["user"] as? String == "backend")
            #expect(listed["kind"] as? String == "api_key")
            #expect(listed["transport"] as? String == "websocket")
            #expect((listed["address"] as? String)?.hasPrefix("127.0.0.1:") == true)
            #expect(listed["subscriptions"] as? [String] == ["/topic/a"])
            #expect(listed["connected"] as? Bool == true)
            #expect((listed["age_s"] as? Double).map { $0 >= 0 && $0 < 60 } == true)
            #expect((listed["bytes_in"] as? Int).map { $0 > 0 } == true)
            let other = try #require(sessions.first { $0["id"] as? String == anonymousID })
            #expect(other["user"] is NSNull)
            #expect(other["kind"] as? String == "anonymous")
            #expect(other["transport"] as? String == "tcp")
            #expect(other["messages_in"] as? Int == 1)

            let filtered = try Self.json(try await Self.request(server, "GET", "/api/sessions?user=backend"))
            #expect((filtered["sessions"] as? [[String: Any]])?.compactMap { $0["id"] as? String } == [backendID])
            let byPath = try Self.json(try await Self.request(server, "GET", "/api/users/backend/sessions"))
            #expect((byPath["sessions"] as? [[String: Any]])?.count == 1)

            let destinations = try await Self.request(server, "GET", "/api/destinations")
            #expect(destinations.body.contains("{\"destination\":\"/topic/a\",\"subscribers\":1}"))
            await backend.close()
            await anonymous.close()
        }
    }

    @Test func disconnectsOneSession() async throws {
        try await withGateway { server in
            var (target, targetID) = try await Self.connect(server, over: .webSocket, key: Self.backendKey)
            var (bystander, _) = try await Self.connect(server, over: .tcp, key: Self.backendKey)
            let answer = try await Self.request(server, "DELETE", "/api/sessions/\(targetID)")
            #expect(answer.status == 200)
            #expect(answer.body == "{\"disconnected\":1}\n")
            Self.expectDisconnected(try await target.drainUntilClosed())
            try await bystander.send(.send, ["destination": "/topic/x", "receipt": "still"], body: "")
            #expect(try await bystander.next()?.headers["receipt-id"] == "still")
            let again = try await Self.request(server, "DELETE", "/api/sessions/\(targetID)")
            #expect(again.status == 404)
            #expect(try Self.json(again)["error"] as? String == "no session \(targetID)")
            await bystander.close()
        }
    }

    /// A user's sessions end on TCP, WebSocket and two SockJS transports; another user's stay.
    @Test func disconnectsEverySessionOfAUser() async throws {
        try await withGateway { server in
            var (tcp, _) = try await Self.connect(server, over: .tcp, key: Self.backendKey)
            var (webSocket, _) = try await Self.connect(server, over: .webSocket, key: Self.backendKey)
            var sockJS: [SockJSStompClient] = []
            for receiving in [SockJSStompClient.Receiving.xhrStreaming, .webSocket] {
                var client = SockJSStompClient(port: server.httpPort, receiving: receiving)
                try await client.open()
                try await client.send(.connect, ["accept-version": "1.2", "host": "h", "passcode": Self.backendKey])
                #expect(try await client.next()?.command == .connected)
                sockJS.append(client)
            }
            var (other, _) = try await Self.connect(server, over: .webSocket, key: "other-secret")
            try await other.send(.subscribe, ["destination": "/topic/after", "id": "1", "receipt": "r"])
            #expect(try await other.next()?.command == .receipt)

            let answer = try await Self.request(server, "DELETE", "/api/users/backend/sessions")
            #expect(answer.status == 200)
            #expect(answer.body == "{\"disconnected\":4}\n")
            Self.expectDisconnected(try await tcp.drainUntilClosed())
            Self.expectDisconnected(try await webSocket.drainUntilClosed())
            for index in sockJS.indices {
                var frames: [StompFrame] = []
                while let frame = try await sockJS[index].next() { frames.append(frame) }
                Self.expectDisconnected(frames)
            }

            let published = try await HTTPTestClient.request(
                port: server.httpPort, method: "POST", path: "/api/publish/topic/after",
                headers: ["Authorization: Bearer \(Self.backendKey)"], body: "still here"
            )
            #expect(published.status == 202)
            #expect(try await other.next()?.bodyText == "still here")
            let none = try await Self.request(server, "DELETE", "/api/users/backend/sessions")
            #expect(none.body == "{\"disconnected\":0}\n")
            let encoded = try await Self.request(server, "DELETE", "/api/users/o%74her/sessions")
            #expect(encoded.body == "{\"disconnected\":1}\n")
            Self.expectDisconnected(try await other.drainUntilClosed())
        }
    }

    @Test func unsubscribingStopsDeliveries() async throws {
        try await withGateway { server in
            var (client, id) = try await Self.connect(server, over: .tcp, key: Self.backendKey)
            for (subscription, destination) in [("1", "/topic/a"), ("2", "/topic/b")] {
                try await client.send(.subscribe, ["destination": destination, "id": subscription, "receipt": "r"])
                #expect(try await client.next()?.command == .receipt)
            }
            let answer = try await Self.request(server, "DELETE", "/api/sessions/\(id)/subscriptions?destination=%2Ftopic%2Fa")
            #expect(answer.status == 200)
            #expect(answer.body == "{\"unsubscribed\":1}\n")
            let twice = try await Self.request(server, "DELETE", "/api/sessions/\(id)/subscriptions?destination=%2Ftopic%2Fa")
            #expect(twice.body == "{\"unsubscribed\":0}\n")
            let unknown = try await Self.request(server, "DELETE", "/api/sessions/session-none/subscriptions?destination=/topic/a")
            #expect(unknown.status == 404)

            for destination in ["a", "b"] {
                let published = try await HTTPTestClient.request(
                    port: server.httpPort, method: "POST", path: "/api/publish/topic/\(destination)",
                    headers: ["Authorization: Bearer \(Self.backendKey)"], body: destination
                )
                #expect(published.status == 202)
            }
            let message = try #require(try await client.next())
            #expect(message.headers["destination"] == "/topic/b")
            let listing = try Self.json(try await Self.request(server, "GET", "/api/sessions?user=backend"))
            #expect((listing["sessions"] as? [[String: Any]])?.first?["subscriptions"] as? [String] == ["/topic/b"])
            await client.close()
        }
    }

    // MARK: $sys

    @Test func nobodySendsToSys() async throws {
        try await withGateway { server in
            for key in [Self.adminKey, Self.backendKey] {
                var (client, _) = try await Self.connect(server, over: .webSocket, key: key)
                try await client.send(.send, ["destination": "/topic/$sys.stats"], body: "{}")
                let frames = try await client.drainUntilClosed()
                #expect(frames.last?.headers["message"] == "permission denied")
                let overHTTP = try await HTTPTestClient.request(
                    port: server.httpPort, method: "POST", path: "/api/publish/topic/$sys.stats",
                    headers: ["Authorization: Bearer \(key)"], body: "{}"
                )
                #expect(overHTTP.status == 403)
            }
            var (queue, _) = try await Self.connect(server, over: .tcp, key: Self.adminKey)
            try await queue.send(.send, ["destination": "/queue/$sys.jobs"], body: "{}")
            #expect(try await queue.drainUntilClosed().last?.headers["message"] == "permission denied")
        }
    }

    @Test(arguments: [nil, AdminAPITests.backendKey])
    func onlyAdminsSubscribeToSys(key: String?) async throws {
        try await withGateway { server in
            for destination in ["/topic/$sys.stats", "/topic/$sys.*"] {
                var (client, _) = try await Self.connect(server, over: .tcp, key: key)
                try await client.send(.subscribe, ["destination": destination, "id": "1"])
                #expect(try await client.drainUntilClosed().last?.headers["message"] == "permission denied")
            }
        }
    }

    /// Admins receive a snapshot about every `statsInterval`; a `/topic/#` subscription of
    /// anyone else never carries one.
    @Test func adminsReceiveStatistics() async throws {
        try await withGateway { server in
            var (watcher, _) = try await Self.connect(server, over: .webSocket, key: Self.backendKey)
            try await watcher.send(.subscribe, ["destination": "/topic/#", "id": "all", "receipt": "r"])
            #expect(try await watcher.next()?.command == .receipt)
            var (admin, _) = try await Self.connect(server, over: .webSocket, key: Self.adminKey)
            try await admin.send(.subscribe, ["destination": "/topic/$sys.stats", "id": "1", "receipt": "r"])
            #expect(try await admin.next()?.command == .receipt)
            var snapshots: [[String: Any]] = []
            // A snapshot counts the deliveries made before it was taken: under load the next
            // may be taken before the previous one reached the admin, so read on (bounded)
            // until one counts a delivered snapshot.
            func messagesOut(_ snapshot: [String: Any]?) -> Int {
                ((snapshot?["transports"] as? [String: Any])?["websocket"] as? [String: Any])?["messages_out"] as? Int ?? 0
            }
            while snapshots.count < 2 || (messagesOut(snapshots.last) < 1 && snapshots.count < 100) {
                let message = try #require(try await admin.next())
                #expect(message.headers["destination"] == "/topic/$sys.stats")
                #expect(message.headers["content-type"] == "application/json")
                snapshots.append(try #require(try JSONSerialization.jsonObject(with: Data(message.bodyText.utf8)) as? [String: Any]))
            }
            let last = try #require(snapshots.last)
            let websocket = try #require((last["transports"] as? [String: Any])?["websocket"] as? [String: Any])
            #expect((websocket["open"] as? Int).map { $0 >= 2 } == true)
            #expect((websocket["messages_out"] as? Int).map { $0 >= 1 } == true)
            #expect(last["subscriptions"] as? Int == 2)
            #expect((last["sessions"] as? [String: Any])?["api_key"] as? Int == 2)
            #expect(last["slow_consumer_drops"] as? Int == 0)
            #expect(last["errors"] is [String: Any])
            #expect(last["limits"] is [String: Any])
            #expect(last["deliveries"] is Int)
            let first = try #require(snapshots.first?["t"] as? Int)
            #expect(try #require(last["t"] as? Int) > first)

            // The pattern subscriber got nothing: a message it may read proves the order.
            let published = try await HTTPTestClient.request(
                port: server.httpPort, method: "POST", path: "/api/publish/topic/plain",
                headers: ["Authorization: Bearer \(Self.backendKey)"], body: "plain"
            )
            #expect(published.status == 202)
            let seen = try #require(try await watcher.next())
            #expect(seen.headers["destination"] == "/topic/plain")
            await watcher.close()
            await admin.close()
        }
    }

    @Test func statisticsJSON() {
        var statistics = HubStatistics()
        var transport = HubStatistics.Transport()
        transport.open = 2
        transport.opened = 5
        transport.traffic.messagesOut = 7
        statistics.transports["tcp"] = transport
        statistics.errors["slow consumer"] = 1
        statistics.slowConsumerDrops = 1
        let text = SystemStatsPublisher.json(statistics, unixMilliseconds: 1_000).encoded
        #expect(text == """
            {"t":1000,"transports":{"tcp":{"open":2,"opened":5,"messages_in":0,"messages_out":7,"bytes_in":0,"bytes_out":0}},\
            "sessions":{},"subscriptions":0,"slow_consumer_drops":1,"errors":{"slow consumer":1},"limits":{},"deliveries":0}
            """)
        #expect(SystemTopics.stats.description == "/topic/$sys.stats")
        #expect(SystemTopics.isReserved(SystemTopics.stats))
    }
}
