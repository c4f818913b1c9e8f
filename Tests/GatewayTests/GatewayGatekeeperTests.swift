import Hub
import NIOCore
import NIOHTTP1
import NIOPosix
import Testing
@testable import Gateway

/// Where credentials are looked for, what a hook's answers mean, and the glob matcher.
@Suite struct GatewayGatekeeperTests {
    static let gatekeeper = GatewayGatekeeper(policy: .standard, apiKeys: ["backend": "s3cret-key"], tokens: nil, hooks: nil)
    static let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

    static func context(uri: String) -> ClientContext {
        var headers = HTTPHeaders()
        headers.add(name: "Cookie", value: "sessionid=abc")
        headers.add(name: "Origin", value: "http://app")
        headers.add(name: "X-Secret", value: "not forwarded")
        headers.add(name: "Accept-Language", value: "fr")
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: uri, headers: headers)
        return ClientContext(transport: "websocket", address: nil, request: head, forwarding: ["accept-language"])
    }

    @Test func credentialsAreFoundInOrder() {
        let gatekeeper = Self.gatekeeper
        let query = Self.context(uri: "/stomp?x=1&token=\(Self.token)")
        #expect(query.queryToken == Self.token)
        #expect(query.httpHeaders.map(\.0) == ["cookie", "origin", "accept-language"])
        guard case .token(let fromHeader) = gatekeeper.credential(in: ["Authorization": "Bearer a.b.c", "passcode": "s3cret-key"], context: query) else {
            Issue.record("the Authorization header comes first"); return
        }
        #expect(fromHeader == "a.b.c")
        guard case .token(let fromURL) = gatekeeper.credential(in: ["passcode": "s3cret-key"], context: query) else {
            Issue.record("the URL token comes before the passcode"); return
        }
        #expect(fromURL == Self.token)
        guard case .apiKey("backend") = gatekeeper.credential(in: ["login": "x", "passcode": "s3cret-key"], context: nil) else {
            Issue.record("an API key as passcode"); return
        }
        guard case .none = gatekeeper.credential(in: ["login": "guest"], context: nil) else { Issue.record("login alone is anonymous"); return }
        guard case .refused = gatekeeper.credential(in: ["passcode": "guest"], context: nil) else { Issue.record("an unknown passcode"); return }
        guard case .refused = gatekeeper.credential(in: ["authorization": "Basic Zm9v"], context: nil) else { Issue.record("not Bearer"); return }
        guard case .refused = gatekeeper.credential(in: [:], context: Self.context(uri: "/stomp?token=nonsense")) else {
            Issue.record("a URL token that is not a JWT"); return
        }
    }

    @Test func queryParametersArePercentDecodedAndBounded() {
        #expect(ClientContext.queryParameter("token", in: "/s?token=a%2Eb.c#frag") == "a.b.c")
        #expect(ClientContext.queryParameter("token", in: "/s?tokens=x") == nil)
        #expect(ClientContext.queryParameter("token", in: "/s?token=%zz") == nil)
        #expect(ClientContext.queryParameter("token", in: "/s?token=" + String(repeating: "a", count: 9_000)) == nil)
    }

    @Test func aConnectHookAnswerBecomesThePrincipal() throws {
        let answer = JSONValue.object([
            ("user", "alice"), ("subscribe", .array(["/topic/room.*"])), ("expires_in", .number(60)), ("data", .object([("name", "Alice")])),
        ])
        let principal = try HookAnswers.connectPrincipal(answer, token: nil, context: nil, policy: .standard).get()
        #expect(principal.user == "alice")
        #expect(principal.expiry != nil)
        #expect(Identity.of(principal).data?["name"] == .string("Alice"))
        let policy = AccessPolicy.standard
        #expect(policy.allows(principal, .subscribe, try #require(Destination("/topic/room.1"))))
        #expect(!policy.allows(principal, .subscribe, try #require(Destination("/topic/other"))))
        // The send list was left out: the configured `authenticated` rules apply to it.
        #expect(policy.allows(principal, .send, try #require(Destination("/topic/other"))))

        let anonymous = try HookAnswers.connectPrincipal(.object([("user", .null)]), token: nil, context: nil, policy: .standard).get()
        #expect(anonymous.user == nil)
        #expect(!policy.allows(anonymous, .send, try #require(Destination("/topic/other"))))

        for bad: JSONValue in [
            .object([("user", .number(3))]), .object([("user", "a\nb")]), .object([("subscribe", "/topic/a")]),
            .object([("send", .array(["no-slash"]))]), .object([("expires_in", .number(-1))]),
        ] {
            guard case .failure(let error) = HookAnswers.connectPrincipal(bad, token: nil, context: nil, policy: .standard) else {
                Issue.record("accepted \(bad.encoded)"); continue
            }
            #expect(error.message == "authorization unavailable")
        }
    }

    @Test func aSendHookAnswerAllowsDropsOrRewrites() {
        let headers: StompHeaders = ["content-type": "text/plain"]
        let body = ByteBuffer(string: "hi")
        guard case .success(.allow) = HookAnswers.sendOutcome(.object([]), headers: headers, body: body) else { Issue.record("allow"); return }
        guard case .success(.drop) = HookAnswers.sendOutcome(.object([("drop", .bool(true))]), headers: headers, body: body) else {
            Issue.record("drop"); return
        }
        let rewrite = JSONValue.object([("body", "HI"), ("headers", .object([("x-id", "7"), ("perigee-user", "forged")]))])
        guard case .success(.replace(let newHeaders, let newBody)) = HookAnswers.sendOutcome(rewrite, headers: headers, body: body) else {
            Issue.record("rewrite"); return
        }
        #expect(String(buffer: newBody) == "HI")
        #expect(newHeaders["content-type"] == "text/plain")
        #expect(newHeaders["x-id"] == "7")
        #expect(newHeaders["perigee-user"] == nil)
        guard case .failure = HookAnswers.sendOutcome(.object([("body", .number(1))]), headers: headers, body: body) else {
            Issue.record("a body that is not a string"); return
        }
    }

    @Test func hookRepliesByStatus() {
        guard case .allowed = HookReply(status: .ok, body: ByteBuffer(string: "{}")) else { Issue.record("200 {}"); return }
        guard case .failed = HookReply(status: .ok, body: nil) else { Issue.record("an empty 200 must not allow"); return }
        guard case .failed = HookReply(status: .noContent, body: nil) else { Issue.record("204 must not allow"); return }
        guard case .failed = HookReply(status: .created, body: ByteBuffer(string: #"{"user":"x"}"#)) else { Issue.record("201"); return }
        guard case .refused("no") = HookReply(status: .forbidden, body: ByteBuffer(string: #"{"reason":"no"}"#)) else { Issue.record("403"); return }
        guard case .refused = HookReply(status: .unauthorized, body: ByteBuffer(string: "<html>")) else { Issue.record("401"); return }
        guard case .failed("answered HTTP 500") = HookReply(status: .internalServerError, body: nil) else { Issue.record("500"); return }
        guard case .failed = HookReply(status: .ok, body: ByteBuffer(string: "{not json")) else { Issue.record("malformed"); return }
        guard case .failed = HookReply(status: .ok, body: ByteBuffer(string: "[1]")) else { Issue.record("not an object"); return }
    }

    @Test(arguments: [
        ("/topic/**", "/topic/a/b", true), ("/topic/*", "/topic/a", true), ("/topic/*", "/topic/a/b", false),
        ("/topic/shouts", "/topic/shouts", true), ("/topic/shouts", "/topic/shout", false), ("/**", "/queue/x", true),
        ("/topic/a*b", "/topic/axxb", true), ("/topic/a*b", "/topic/a/b", false), ("/topic/**/x", "/topic/a/b/x", true),
        ("/topic/**/x", "/topic/a/b/y", false), ("/*/*", "/topic/a", true), ("/topic/", "/topic", false),
    ])
    func globsMatch(glob: String, path: String, expected: Bool) {
        #expect(Glob(glob).matches(path) == expected)
    }

    /// A glob full of stars against a long path that almost matches: a backtracking matcher
    /// takes exponential time here, the dynamic programme O(glob × path).
    @Test func adversarialGlobsStayLinear() {
        let glob = "/" + String(repeating: "**a", count: 300) + "b"
        let path = "/" + String(repeating: "a", count: 4_000)
        #expect(!Glob(glob).matches(path))
        #expect(Glob("/" + String(repeating: "*a", count: 300)).matches("/" + String(repeating: "a", count: 300)))
    }

    /// Ids that would display as another (separators, bidi and zero-width marks) or break a
    /// header are refused.
    @Test func userIDsAreVisibleText() {
        #expect(Identity.isValidUser("alice"))
        #expect(Identity.isValidUser("élodie:admin\\x"))
        for bad in ["", "a\u{85}b", "a\u{2028}b", "adm\u{202E}nimda", "a\u{200B}", "a\u{7F}", "\u{FEFF}bob"] {
            #expect(!Identity.isValidUser(bad), "\(bad.unicodeScalars.map { String($0.value, radix: 16) })")
        }
    }

    /// With a subscribe hook, a pattern is refused unless the hook is declared to judge them.
    @Test func patternsNeedAHookThatJudgesThem() async throws {
        let pattern = try #require(Destination("/topic/#", allowWildcards: true))
        let principal = Identity(kind: .hook).principal(user: "u")
        var settings = HookClient.Settings(subscribe: "http://127.0.0.1:1/subscribe")
        let refusingHooks = HookClient(settings: settings, group: MultiThreadedEventLoopGroup.singleton)
        settings.subscribePatterns = true
        let judgingHooks = HookClient(settings: settings, group: MultiThreadedEventLoopGroup.singleton)
        let refusing = GatewayGatekeeper(policy: .standard, apiKeys: [:], tokens: nil, hooks: refusingHooks)
        let judging = GatewayGatekeeper(policy: .standard, apiKeys: [:], tokens: nil, hooks: judgingHooks)
        #expect(!refusing.allows(principal, .subscribe, pattern))
        #expect(refusing.allows(principal, .subscribe, try #require(Destination("/topic/a"))))
        #expect(judging.allows(principal, .subscribe, pattern))
        #expect(Self.gatekeeper.allows(principal, .subscribe, pattern))
        await refusingHooks.shutdown()
        await judgingHooks.shutdown()
    }
}
