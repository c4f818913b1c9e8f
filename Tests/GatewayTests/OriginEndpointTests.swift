import Gateway
import NIOCore
import Testing

/// The origin allow-list over real sockets: WebSocket handshakes and SockJS requests from
/// foreign pages are refused with 403, and CORS answers name only allowed origins.
@Suite(.timeLimit(.minutes(1)))
struct OriginEndpointTests {
    private static let listed = "http://127.0.0.1:8000"

    private func withServer(_ body: (GatewayServer) async throws -> Void) async throws {
        let policy = try OriginPolicy(allowing: [Self.listed])
        try await withTestServer({ $0.origins = policy }, body)
    }

    /// Sends one raw request (its head lines without the request line's CRLF) and reads the
    /// answer; `upgrade` requests only read the head.
    private func exchange(_ port: Int, _ lines: [String], body: String = "", readBody: Bool = true) async throws -> HTTPTestClient.Response {
        var client = try await RawWebSocketClient.connect(port: port)
        let head = try await client.request(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
        let rest = readBody ? try await client.readToEnd() : ""
        await client.close()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        let chunked = head.lowercased().contains("transfer-encoding: chunked")
        return HTTPTestClient.Response(status: status, head: head, body: chunked ? HTTPTestClient.dechunk(rest) : rest)
    }

    private func handshake(_ port: Int, path: String = "/stomp", host: String = "127.0.0.1", origin: String?) async throws -> HTTPTestClient.Response {
        var lines = [
            "GET \(path) HTTP/1.1", "Host: \(host)", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Version: 13", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]
        if let origin { lines.append("Origin: \(origin)") }
        let upgraded = try await exchange(port, lines, readBody: false)
        guard upgraded.status != 101 else { return upgraded }
        // Refused: read the reason too.
        return try await exchange(port, lines)
    }

    private func request(_ port: Int, _ method: String, _ path: String, origin: String?, headers: [String] = [], body: String = "") async throws -> HTTPTestClient.Response {
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1:\(port)", "Connection: close", "Content-Length: \(body.utf8.count)"]
        if let origin { lines.append("Origin: \(origin)") }
        return try await exchange(port, lines + headers, body: body)
    }

    @Test func webSocketHandshakesFromForeignOriginsAreRefused() async throws {
        try await withServer { server in
            let port = server.httpPort
            for path in ["/stomp", "/stomp/websocket", "/stomp/000/abcd/websocket"] {
                let refused = try await handshake(port, path: path, origin: "http://evil.example")
                #expect(refused.status == 403, "\(path)")
                #expect(refused.body == "origin http://evil.example is not allowed\n", "\(path)")
                #expect(refused.header("Content-Type") == "text/plain; charset=utf-8")
                #expect(refused.header("X-Content-Type-Options") == "nosniff")
                #expect(refused.header("Access-Control-Allow-Origin") == nil)
                #expect(try await handshake(port, path: path, origin: "null").status == 403, "\(path)")
                #expect(try await handshake(port, path: path, origin: nil).status == 101, "\(path)")
                #expect(try await handshake(port, path: path, origin: Self.listed).status == 101, "\(path)")
            }
            // The gateway's own origin: the Origin's host and port are the Host header's.
            #expect(try await handshake(port, host: "gateway.example:\(port)", origin: "http://gateway.example:\(port)").status == 101)
            #expect(try await handshake(port, host: "gateway.example", origin: "https://gateway.example").status == 101)
            #expect(try await handshake(port, host: "gateway.example", origin: "http://gateway.example:8080").status == 403)
        }
    }

    @Test func sockJSRequestsFromForeignOriginsAreRefusedAndCORSNamesOnlyAllowedOnes() async throws {
        try await withServer { server in
            let port = server.httpPort
            let foreign = try await request(port, "GET", "/stomp/info", origin: "http://evil.example")
            #expect(foreign.status == 403)
            #expect(foreign.body == "origin http://evil.example is not allowed\n")
            #expect(foreign.header("Access-Control-Allow-Origin") == nil)
            let polled = try await request(port, "POST", "/stomp/000/foreign1/xhr", origin: "http://evil.example")
            #expect(polled.status == 403)

            let listed = try await request(port, "GET", "/stomp/info", origin: Self.listed)
            #expect(listed.status == 200)
            #expect(listed.header("Access-Control-Allow-Origin") == Self.listed)
            #expect(listed.header("Access-Control-Allow-Credentials") == "true")
            #expect(listed.header("Vary") == "Origin")
            let own = try await request(port, "POST", "/stomp/000/own1/xhr", origin: "http://127.0.0.1:\(port)")
            #expect(own.status == 200)
            #expect(own.body == "o\n")
            #expect(own.header("Access-Control-Allow-Origin") == "http://127.0.0.1:\(port)")

            let preflight = try await request(
                port, "OPTIONS", "/stomp/000/own2/xhr_send", origin: Self.listed,
                headers: ["Access-Control-Request-Method: POST", "Access-Control-Request-Headers: content-type"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == Self.listed)
            let foreignPreflight = try await request(port, "OPTIONS", "/stomp/000/own2/xhr_send", origin: "http://evil.example")
            #expect(foreignPreflight.status == 403)

            let bare = try await request(port, "GET", "/stomp/info", origin: nil)
            #expect(bare.status == 200)
            #expect(bare.header("Access-Control-Allow-Credentials") == nil)
        }
    }

    @Test func theHTTPAPIAnswersPreflightsAndCORSForAllowedOriginsOnly() async throws {
        try await withServer { server in
            let port = server.httpPort
            let preflight = try await request(
                port, "OPTIONS", "/api/publish/topic/x", origin: Self.listed,
                headers: ["Access-Control-Request-Method: POST", "Access-Control-Request-Headers: authorization, content-type"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Origin") == Self.listed)
            #expect(preflight.header("Access-Control-Allow-Credentials") == "true")
            #expect(preflight.header("Access-Control-Allow-Methods")?.contains("POST") == true)
            #expect(preflight.header("Access-Control-Allow-Headers") == "authorization, content-type")
            #expect(preflight.header("Vary") == "Origin")

            let published = try await request(port, "POST", "/api/publish/topic/x", origin: Self.listed, body: "hi")
            #expect(published.status == 202)
            #expect(published.header("Access-Control-Allow-Origin") == Self.listed)

            let foreign = try await request(port, "POST", "/api/publish/topic/x", origin: "http://evil.example", body: "hi")
            #expect(foreign.status == 403)
            #expect(foreign.body == "origin http://evil.example is not allowed\n")
            #expect(foreign.header("Access-Control-Allow-Origin") == nil)
            #expect(try await request(port, "OPTIONS", "/api/publish/topic/x", origin: "http://evil.example").status == 403)

            let bare = try await request(port, "POST", "/api/publish/topic/x", origin: nil, body: "hi")
            #expect(bare.status == 202)
            #expect(bare.header("Access-Control-Allow-Origin") == nil)
        }
    }

    @Test func staticFilesCarryCORSForAllowedOriginsOnly() async throws {
        try await withServer { server in
            let port = server.httpPort
            let listed = try await request(port, "GET", "/perigee.js", origin: Self.listed)
            #expect(listed.status == 200)
            #expect(listed.header("Access-Control-Allow-Origin") == Self.listed)
            #expect(listed.header("Access-Control-Allow-Credentials") == "true")
            let foreign = try await request(port, "GET", "/perigee.js", origin: "http://evil.example")
            #expect(foreign.status == 200)
            #expect(foreign.header("Access-Control-Allow-Origin") == nil)
            #expect(foreign.header("Vary") == "Origin")
        }
    }

    @Test func conformanceServicesAllowAnyOrigin() async throws {
        try await withServer { server in
            let port = server.httpPort
            #expect(try await handshake(port, path: "/echo/websocket", origin: "http://suite.example").status == 101)
            let info = try await request(port, "GET", "/echo/info", origin: "http://suite.example")
            #expect(info.status == 200)
            #expect(info.header("Access-Control-Allow-Origin") == "http://suite.example")
        }
    }
}
