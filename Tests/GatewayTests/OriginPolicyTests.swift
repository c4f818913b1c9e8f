import Gateway
import NIOHTTP1
import Testing

/// `OriginPolicy` without sockets: the gateway's own origin, listed origins, `*` and `null`.
@Suite struct OriginPolicyTests {
    private func request(origin: String?, host: String?) -> HTTPRequestHead {
        var headers = HTTPHeaders()
        if let host { headers.add(name: "Host", value: host) }
        if let origin { headers.add(name: "Origin", value: origin) }
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: "/stomp", headers: headers)
    }

    @Test func theGatewaysOwnOriginIsAllowedWithDefaultPortsEitherWay() {
        let policy = OriginPolicy.sameOrigin
        #expect(policy.allows("http://127.0.0.1:9000", host: "127.0.0.1:9000"))
        #expect(policy.allows("https://Gateway.Example", host: "gateway.example"))
        #expect(policy.allows("https://gateway.example", host: "gateway.example:443"))
        #expect(policy.allows("http://gateway.example:80", host: "gateway.example"))
        #expect(policy.allows("wss://[::1]:9443", host: "[::1]:9443"))
        #expect(!policy.allows("http://gateway.example", host: "gateway.example:9000"))
        #expect(!policy.allows("http://127.0.0.1:8000", host: "127.0.0.1:9000"))
        #expect(!policy.allows("http://evil.example", host: "gateway.example"))
        #expect(!policy.allows("http://gateway.example.evil.example", host: "gateway.example"))
        #expect(!policy.allows("http://gateway.example", host: nil))
        #expect(!policy.allows("null", host: "gateway.example"))
        #expect(!policy.allows("gateway.example", host: "gateway.example"))
        #expect(!policy.allows("http://gateway.example/path", host: "gateway.example"))
    }

    @Test func listedOriginsMatchExactlyExceptForCaseAndDefaultPorts() throws {
        let policy = try OriginPolicy(allowing: ["http://127.0.0.1:8000", "https://App.Example"])
        #expect(policy.allows("http://127.0.0.1:8000", host: "127.0.0.1:9000"))
        #expect(policy.allows("https://app.example:443", host: "127.0.0.1:9000"))
        #expect(policy.allows("HTTPS://APP.EXAMPLE", host: "127.0.0.1:9000"))
        #expect(!policy.allows("https://127.0.0.1:8000", host: "127.0.0.1:9000"))
        #expect(!policy.allows("http://127.0.0.1:8001", host: "127.0.0.1:9000"))
        #expect(!policy.allows("http://app.example", host: "127.0.0.1:9000"))
        #expect(!policy.allows("null", host: "127.0.0.1:9000"))
    }

    @Test func starAllowsAnyAndNullMustBeListed() throws {
        #expect(try OriginPolicy(allowing: ["*"]).allows("http://anything.example", host: "x"))
        #expect(try OriginPolicy(allowing: ["*"]).allows("null", host: "x"))
        #expect(try OriginPolicy(allowing: ["null"]).allows("null", host: "x"))
        #expect(!(try OriginPolicy(allowing: ["null"]).allows("http://anything.example", host: "x")))
    }

    @Test func refusesEntriesThatAreNotOrigins() {
        for entry in ["127.0.0.1:8000", "http://app.example/", "http://app.example:0", "http://app.example:99999", "http://", "http://a b", "://x", "*.example"] {
            #expect(throws: OriginPolicy.InvalidEntry.self, "\(entry)") { try OriginPolicy(allowing: [entry]) }
        }
    }

    @Test func decidesFromTheRequestHeaders() {
        let policy = OriginPolicy.sameOrigin
        #expect(policy.decide(request(origin: nil, host: "h:1")) == .absent)
        #expect(policy.decide(request(origin: "http://h:1", host: "h:1")) == .allowed("http://h:1"))
        #expect(policy.decide(request(origin: "http://h:2", host: "h:1")) == .refused("http://h:2"))
        #expect(policy.decide(request(origin: "http://h:1", host: "h:1")).corsOrigin == "http://h:1")
        #expect(policy.decide(request(origin: "http://h:2", host: "h:1")).corsOrigin == nil)
    }
}
