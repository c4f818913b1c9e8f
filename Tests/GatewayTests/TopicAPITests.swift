import Foundation
@testable import Gateway
@testable import Hub
import JWTKit
import NIOCore
import NIOHTTP1
import Testing

/// Issue 11: `GET /api/history/<destination>` and `GET /api/presence/<destination>`: parsing,
/// the access rules of SUBSCRIBE, and the JSON answers, over real sockets.
@Suite(.timeLimit(.minutes(1)))
struct TopicAPITests {
    static let adminKey = "admin-secret-1"
    static let backendKey = "backend-secret"
    static let secret = String(repeating: "s", count: 40)
    static let shoutsPolicy = ChannelPolicy(history: 100, historyTTLSeconds: 3600, presence: true, joinLeave: true)

    struct Claims: JWTPayload {
        var sub: String
        var exp: Double
        var presence: [String: String]?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func token(_ user: String, presence: [String: String]? = nil) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(Claims(sub: user, exp: Date().timeIntervalSince1970 + 600, presence: presence))
    }

    /// Anonymous clients may read /topic/shouts and /topic/plain; authenticated users every topic.
    private func withGateway(_ configure: @escaping (inout GatewayConfiguration) -> Void = { _ in }, _ body: (GatewayServer) async throws -> Void) async throws {
        try await withTestServer({
            $0.accessPolicy = AccessPolicy(
                anonymous: .init(subscribe: ["/topic/shouts", "/topic/plain", "/topic/$sys.stats"], send: []),
                apiKey: .init(subscribe: ["/**"], send: ["/**"]),
                authenticated: .init(subscribe: ["/topic/**"], send: ["/topic/**"])
            )
            $0.apiKeys = ["ops": Self.adminKey, "backend": Self.backendKey]
            $0.apiKeyRoles = ["ops": ["admin"]]
            $0.jwt = TokenVerifier.Settings(hs256Secret: Self.secret, leewaySeconds: 30)
            $0.channels = ChannelRules([
                .init(glob: "/topic/shouts", policy: Self.shoutsPolicy),
                .init(glob: "/topic/private.*", policy: ChannelPolicy(history: 10, presence: true)),
            ])
            configure(&$0)
        }, body)
    }

    private static func get(_ server: GatewayServer, _ path: String, headers: [String] = [], method: String = "GET") async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.request(port: server.httpPort, method: method, path: path, headers: headers)
    }

    private static func json(_ response: HTTPTestClient.Response) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(response.body.utf8)) as? [String: Any], "\(response.body)")
    }

    private static func error(_ response: HTTPTestClient.Response) throws -> String? {
        try json(response)["error"] as? String
    }

    // MARK: Parsing

    private static func parsed(_ uri: String, method: HTTPMethod = .GET) -> TopicAPI.Request? {
        guard case .success(let request) = TopicAPI.parse(method: method, uri: uri) else { return nil }
        return request
    }

    private static func refusal(_ uri: String, method: HTTPMethod = .GET) -> APIReply? {
        guard case .failure(let reply) = TopicAPI.parse(method: method, uri: uri) else { return nil }
        return reply
    }

    @Test func parsesDestinationsSinceAndLimit() throws {
        let shouts = try #require(Destination("/topic/shouts"))
        #expect(TopicAPI.owns("/api/history") && TopicAPI.owns("/api/history/topic/a") && TopicAPI.owns("/api/presence/topic/a"))
        #expect(!TopicAPI.owns("/api/historyx") && !TopicAPI.owns("/api/presences"))
        #expect(Self.parsed("/api/history/topic/shouts") == TopicAPI.Request(route: .history(shouts, since: nil, limit: 100), token: nil))
        #expect(Self.parsed("/api/history/%2Ftopic%2Fshouts")?.route == TopicAPI.Route.history(shouts, since: nil, limit: 100))
        #expect(Self.parsed("/api/history/topic%2Fshouts?limit=0")?.route == TopicAPI.Route.history(shouts, since: nil, limit: 0))
        #expect(Self.parsed("/api/history/topic/shouts", method: .HEAD) != nil)
        let since = TopicPosition(epoch: "0abc", offset: 7)
        #expect(Self.parsed("/api/history/topic/shouts?since=0abc:7&limit=1000#x")?.route == TopicAPI.Route.history(shouts, since: since, limit: 1_000))
        #expect(Self.parsed("/api/history/topic/shouts?since=0abc%3A7")?.route == TopicAPI.Route.history(shouts, since: since, limit: 100))
        #expect(Self.parsed("/api/presence/topic/shouts?token=a.b.c") == TopicAPI.Request(route: .presence(shouts), token: "a.b.c"))
        #expect(Self.parsed("/api/presence/topic/caf%C3%A9")?.route == TopicAPI.Route.presence(try #require(Destination("/topic/café"))))
    }

    @Test func refusesMalformedRequests() throws {
        let cases: [(String, Int, String)] = [
            ("/api/history", 404, "name a topic: /api/history/topic/NAME"),
            ("/api/presence/", 404, "name a topic: /api/presence/topic/NAME"),
            ("/api/history/topic/sh%ZZ", 400, "the destination is not valid percent-encoded UTF-8 of at most 1024 bytes"),
            ("/api/history/topic/%FF", 400, "the destination is not valid percent-encoded UTF-8 of at most 1024 bytes"),
            ("/api/history/topic/" + String(repeating: "a", count: 2_000), 400, "the destination is not valid percent-encoded UTF-8 of at most 1024 bytes"),
            ("/api/history/topic/", 400, "bad destination /topic/: use /api/history/topic/NAME"),
            ("/api/presence/shouts", 400, "bad destination /shouts: use /api/presence/topic/NAME"),
            ("/api/history/queue/jobs", 400, "history and presence are kept for topics only, not /queue/jobs"),
            ("/api/history/topic/chat.*", 400, "name one topic: /topic/chat.* has wildcards"),
            ("/api/presence/topic/%23", 400, "name one topic: /topic/# has wildcards"),
            ("/api/history/topic/a%00b", 400, "the destination contains a control character"),
            ("/api/presence/topic/a%0Ab", 400, "the destination contains a control character"),
            ("/api/history/topic/a%7F", 400, "the destination contains a control character"),
            ("/api/history/topic/a?x=%G0", 400, "the query string is not valid percent-encoded UTF-8, or a value is longer than 16384 bytes"),
            ("/api/history/topic/a?token=" + String(repeating: "t", count: 16_385), 400, "the query string is not valid percent-encoded UTF-8, or a value is longer than 16384 bytes"),
        ]
        for (uri, status, message) in cases {
            let reply = try #require(Self.refusal(uri), "\(uri.prefix(80))")
            #expect(Int(reply.status.code) == status, "\(uri.prefix(80))")
            #expect(reply.body["error"] == .string(message), "\(uri.prefix(80))")
        }
        for since in ["", "x", "abc", "ABC:1", "a:-1", "a:", ":1", "a:1:2", "a:123456789012345678901", "a:18446744073709551616", String(repeating: "a", count: 33) + ":1"] {
            let reply = try #require(Self.refusal("/api/history/topic/a?since=\(since)"), "\(since)")
            #expect(reply.status == .badRequest)
            #expect(reply.body["error"] == .string("since must be <epoch>:<offset>, as a MESSAGE's perigee-epoch and perigee-offset"))
        }
        for limit in ["", "-1", "1001", "x", "1e3", "99999999999999999999", " 5"] {
            let reply = try #require(Self.refusal("/api/history/topic/a?limit=\(limit)"), "\(limit)")
            #expect(reply.body["error"] == .string("limit must be an integer from 0 to 1000"), "\(limit)")
        }
        for method in [HTTPMethod.POST, .DELETE, .PUT, .PATCH] {
            let reply = try #require(Self.refusal("/api/history/topic/a", method: method))
            #expect(reply.status == .methodNotAllowed)
            #expect(reply.allow == "GET, HEAD")
        }
    }

    // MARK: JSON

    private static func message(_ id: String, offset: UInt64, body: ByteBuffer, headers: StompHeaders = [:]) throws -> HubMessage {
        var message = HubMessage(id: id, destination: try #require(Destination("/topic/shouts")), headers: headers, body: body)
        message.position = TopicPosition(epoch: "epoch00000001", offset: offset)
        return message
    }

    @Test func historyJSONCarriesPositionsHeadersAndBodiesEscaped() throws {
        let shouts = try #require(Destination("/topic/shouts"))
        let tricky = "quote \" backslash \\ newline \n nul \u{0} <script> \u{2028} é"
        let messages = [
            try Self.message("m-1", offset: 4, body: ByteBuffer(string: tricky), headers: ["content-type": "text/plain", "perigee-user": "al\"ice", "x\"y": "v\n"]),
            try Self.message("m-2", offset: 5, body: ByteBuffer(bytes: [0xFF, 0x00, 0xC3])),
        ]
        let page = HistoryPage(head: TopicPosition(epoch: "epoch00000001", offset: 9), recovered: false, messages: messages, truncated: true)
        let text = JSONValue.object(TopicAPI.historyJSON(page, of: shouts).sorted { $0.key < $1.key }).encoded
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["destination"] as? String == "/topic/shouts")
        #expect(object["epoch"] as? String == "epoch00000001")
        #expect(object["offset"] as? Int == 9)
        #expect(object["recovered"] as? Bool == false)
        #expect(object["truncated"] as? Bool == true)
        let listed = try #require(object["messages"] as? [[String: Any]])
        #expect(listed.count == 2)
        #expect(listed[0]["offset"] as? Int == 4)
        #expect(listed[0]["epoch"] as? String == "epoch00000001")
        #expect(listed[0]["message_id"] as? String == "m-1")
        #expect(listed[0]["body"] as? String == tricky)
        #expect(listed[0]["headers"] as? [String: String] == ["content-type": "text/plain", "perigee-user": "al\"ice", "x\"y": "v\n"])
        #expect(listed[1]["body"] == nil)
        #expect(listed[1]["body_base64"] as? String == "/wDD")
        #expect(!text.contains("<script>"))
    }

    @Test func aHistoryPageIsBoundedInBytes() throws {
        let big = ByteBuffer(repeating: UInt8(ascii: "x"), count: TopicAPI.maxPageBytes / 2 + 1)
        let messages = try (1...3).map { try Self.message("m-\($0)", offset: UInt64($0), body: big) }
        let page = HistoryPage(head: TopicPosition(epoch: "e", offset: 3), recovered: true, messages: messages, truncated: false)
        let object = TopicAPI.historyJSON(page, of: try #require(Destination("/topic/shouts")))
        guard case .array(let listed)? = object["messages"] else { Issue.record("no messages"); return }
        #expect(listed.count == 1)
        #expect(object["truncated"] == .bool(true))
        // One message is always given, however large.
        let huge = try Self.message("m-9", offset: 9, body: ByteBuffer(repeating: 0x41, count: TopicAPI.maxPageBytes + 1))
        let single = TopicAPI.historyJSON(HistoryPage(head: TopicPosition(epoch: "e", offset: 9), recovered: true, messages: [huge], truncated: false), of: try #require(Destination("/topic/shouts")))
        guard case .array(let one)? = single["messages"] else { Issue.record("no messages"); return }
        #expect(one.count == 1)
        #expect(single["truncated"] == .bool(false))
    }

    @Test func presenceJSONListsUsersWithTheirData() throws {
        let snapshot = PresenceSnapshot(
            members: [
                .init(user: "alice", sessions: 2, data: #"{"name":"Alice \"A\"","color":"red"}"#),
                .init(user: "b\"ob", sessions: 1, data: nil),
            ],
            anonymous: 3
        )
        let text = JSONValue.object(TopicAPI.presenceJSON(snapshot, of: try #require(Destination("/topic/shouts"))).sorted { $0.key < $1.key }).encoded
        #expect(text == #"{"anonymous":3,"destination":"/topic/shouts","users":[{"user":"alice","sessions":2,"data":{"name":"Alice \"A\"","color":"red"}},{"user":"b\"ob","sessions":1,"data":null}]}"#)
        #expect(try JSONSerialization.jsonObject(with: Data(text.utf8)) is [String: Any])
    }

    // MARK: Access

    @Test func theRulesOfSubscribingApply() async throws {
        try await withGateway { server in
            let alice = try await Self.token("alice")
            for prefix in ["/api/history", "/api/presence"] {
                let denied = try await Self.get(server, "\(prefix)/topic/private.a")
                #expect(denied.status == 403, "\(prefix)")
                #expect(try Self.error(denied) == "you may not subscribe to /topic/private.a")
                #expect(try await Self.get(server, "\(prefix)/topic/private.a", headers: ["Authorization: Bearer \(alice)"]).status != 403, "\(prefix)")
                #expect(try await Self.get(server, "\(prefix)/topic/private.a?token=\(alice)").status != 403, "\(prefix)")
                #expect(try await Self.get(server, "\(prefix)/topic/private.a", headers: ["Authorization: Bearer \(Self.backendKey)"]).status != 403, "\(prefix)")

                let unknown = try await Self.get(server, "\(prefix)/topic/shouts", headers: ["Authorization: Bearer not-a-key"])
                #expect(unknown.status == 401)
                #expect(try Self.error(unknown) == "unknown API key")
                let basic = try await Self.get(server, "\(prefix)/topic/shouts", headers: ["Authorization: Basic b3BzOng="])
                #expect(basic.status == 401)
                #expect(try Self.error(basic) == "Authorization must be Bearer <token>")
                let forged = try await Self.get(server, "\(prefix)/topic/shouts?token=\(alice.dropLast(2))xx")
                #expect(forged.status == 401)
                #expect(try Self.error(forged)?.hasPrefix("unauthorized: ") == true)
                let notJWT = try await Self.get(server, "\(prefix)/topic/shouts?token=abc")
                #expect(notJWT.status == 401)
                #expect(try Self.error(notJWT) == "the token in the URL is not a JWT")

                // The server's own topics: admins only, whatever the rules say.
                for headers in [[], ["Authorization: Bearer \(Self.backendKey)"], ["Authorization: Bearer \(alice)"]] {
                    let sys = try await Self.get(server, "\(prefix)/topic/$sys.stats", headers: headers)
                    #expect(sys.status == 403, "\(prefix) \(headers)")
                }
                #expect(try await Self.get(server, "\(prefix)/topic/$sys.stats", headers: ["Authorization: Bearer \(Self.adminKey)"]).status != 403)
                let post = try await Self.get(server, "\(prefix)/topic/shouts", method: "POST")
                #expect(post.status == 405)
                #expect(post.header("Allow") == "GET, HEAD")
            }
        }
    }

    @Test func aTokenInTheURLNeedsAJWTKey() async throws {
        try await withGateway({ $0.jwt = TokenVerifier.Settings() }) { server in
            let refused = try await Self.get(server, "/api/history/topic/shouts?token=\(try await Self.token("alice"))")
            #expect(refused.status == 401)
            #expect(try Self.error(refused) == "no JWT key is configured")
        }
    }

    @Test func withAConnectHookAnonymousCallersAreRefused() async throws {
        try await withGateway({ $0.hooks.connect = "http://127.0.0.1:9/perigee/connect" }) { server in
            let refused = try await Self.get(server, "/api/presence/topic/shouts")
            #expect(refused.status == 401)
            #expect(try Self.error(refused)?.contains("connect hook") == true)
            #expect(try await Self.get(server, "/api/history/topic/shouts", headers: ["Authorization: Bearer \(Self.backendKey)"]).status == 200)
        }
    }

    @Test func theOriginPolicyApplies() async throws {
        try await withGateway { server in
            let foreign = try await Self.get(server, "/api/history/topic/shouts", headers: ["Origin: http://evil.example"])
            #expect(foreign.status == 403)
            #expect(foreign.body == "origin http://evil.example is not allowed\n")
            let own = try await Self.get(server, "/api/history/topic/shouts", headers: ["Origin: http://127.0.0.1"])
            #expect(own.status == 200)
            #expect(own.header("Access-Control-Allow-Origin") == "http://127.0.0.1")
            #expect(own.header("Content-Type") == "application/json")
            #expect(own.header("Cache-Control") == "no-store")
            let head = try await Self.get(server, "/api/history/topic/shouts", method: "HEAD")
            #expect(head.status == 200)
            #expect(head.body.isEmpty)
        }
    }

    @Test func presenceIsNotFoundWhereNotConfigured() async throws {
        try await withGateway { server in
            let plain = try await Self.get(server, "/api/presence/topic/plain")
            #expect(plain.status == 404)
            #expect(try Self.error(plain) == "/topic/plain keeps no presence (see channels: in the configuration)")
            // No history configured: the head and no message.
            let history = try await Self.get(server, "/api/history/topic/plain")
            #expect(history.status == 200)
            #expect(try Self.json(history)["messages"] as? [Any] != nil)
        }
    }

    @Test func malformedRequestsAreRefusedOverTheWire() async throws {
        try await withGateway { server in
            for (path, status) in [
                ("/api/history/topic/sh%ZZ", 400), ("/api/presence/topic/%FF", 400), ("/api/history/queue/jobs", 400),
                ("/api/history/topic/a?since=nope", 400), ("/api/history/topic/a?limit=5000", 400), ("/api/presence", 404),
            ] {
                let answer = try await Self.get(server, path)
                #expect(answer.status == status, "\(path)")
                #expect(answer.header("Content-Type") == "application/json", "\(path)")
                #expect(try Self.error(answer)?.isEmpty == false, "\(path)")
            }
        }
    }

    // MARK: Content (needs the hub core of issue 11)

    @Test func historyReturnsWhatWasPublished() async throws {
        try await withGateway { server in
            for body in ["one", "two", "th\"ree"] {
                let published = try await HTTPTestClient.request(
                    port: server.httpPort, method: "POST", path: "/api/publish/topic/shouts",
                    headers: ["Authorization: Bearer \(Self.backendKey)", "Content-Type: text/plain", "X-Stomp-Mood: happy"], body: body
                )
                #expect(published.status == 202)
            }
            let all = try Self.json(try await Self.get(server, "/api/history/topic/shouts"))
            let epoch = try #require(all["epoch"] as? String)
            #expect(epoch.count == 13)
            #expect(all["offset"] as? Int == 3)
            #expect(all["recovered"] as? Bool == true)
            #expect(all["destination"] as? String == "/topic/shouts")
            let messages = try #require(all["messages"] as? [[String: Any]])
            #expect(messages.map { $0["offset"] as? Int } == [1, 2, 3])
            #expect(messages.map { $0["body"] as? String } == ["one", "two", "th\"ree"])
            #expect(messages.allSatisfy { $0["epoch"] as? String == epoch })
            let headers = messages.first?["headers"] as? [String: String]
            #expect(headers?["perigee-user"] == "backend")
            #expect(headers?["mood"] == "happy")
            #expect(headers?["content-type"] == "text/plain")

            let after = try Self.json(try await Self.get(server, "/api/history/topic/shouts?since=\(epoch):1"))
            #expect((after["messages"] as? [[String: Any]])?.map { $0["offset"] as? Int } == [2, 3])
            #expect(after["recovered"] as? Bool == true)
            // Without since: the newest `limit`, oldest first.
            let newest = try Self.json(try await Self.get(server, "/api/history/topic/shouts?limit=2"))
            #expect((newest["messages"] as? [[String: Any]])?.map { $0["offset"] as? Int } == [2, 3])
            #expect(newest["truncated"] as? Bool == false)
            // With since: from there on, `limit` at a time.
            let paged = try Self.json(try await Self.get(server, "/api/history/topic/shouts?since=\(epoch):0&limit=2"))
            #expect((paged["messages"] as? [[String: Any]])?.map { $0["offset"] as? Int } == [1, 2])
            #expect(paged["truncated"] as? Bool == true)
            #expect(paged["recovered"] as? Bool == true)
            let head = try Self.json(try await Self.get(server, "/api/history/topic/shouts?limit=0"))
            #expect((head["messages"] as? [Any])?.isEmpty == true)
            #expect(head["offset"] as? Int == 3)
            let otherEpoch = try Self.json(try await Self.get(server, "/api/history/topic/shouts?since=zzzzzzzzzzzzz:1"))
            #expect(otherEpoch["recovered"] as? Bool == false)
        }
    }

    @Test func presenceListsSubscribersWithTheirData() async throws {
        try await withGateway { server in
            let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
            let alice = try await Self.token("alice", presence: ["name": "Alice \"A\""])
            var clients: [StompTestClient] = []
            for headers: StompHeaders in [
                ["accept-version": "1.2", "host": "h", "passcode": alice],
                ["accept-version": "1.2", "host": "h", "passcode": alice],
                ["accept-version": "1.2", "host": "h"],
            ] {
                var client = try await StompTestClient.connect(handle, over: .tcp, headers: headers)
                try await client.send(.subscribe, ["destination": "/topic/shouts", "id": "1", "receipt": "r"])
                #expect(try await client.next()?.command == .receipt)
                clients.append(client)
            }
            let answer = try await Self.get(server, "/api/presence/topic/shouts")
            #expect(answer.status == 200)
            let object = try Self.json(answer)
            #expect(object["destination"] as? String == "/topic/shouts")
            #expect(object["anonymous"] as? Int == 1)
            let users = try #require(object["users"] as? [[String: Any]])
            #expect(users.count == 1)
            #expect(users.first?["user"] as? String == "alice")
            #expect(users.first?["sessions"] as? Int == 2)
            #expect(users.first?["data"] as? [String: String] == ["name": "Alice \"A\""])
            for client in clients { await client.close() }
        }
    }
}
