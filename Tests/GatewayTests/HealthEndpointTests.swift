import Foundation
import Gateway
import NIOCore
import NIOPosix
import Testing

/// `GET /healthz` and `GET /readyz` (issue 10, item 2): JSON bodies; readiness turns 503 once
/// the server begins to stop, while the process still answers.
@Suite(.timeLimit(.minutes(1)))
struct HealthEndpointTests {
    @Test func healthAndReadiness() async throws {
        var configuration = GatewayConfiguration()
        configuration.port = 0
        configuration.stompPort = 0
        configuration.webRoot = nil
        let server = try await GatewayServer.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
        let port = server.httpPort
        let health = try await HTTPTestClient.request(port: port, method: "GET", path: "/healthz")
        #expect(health.status == 200)
        #expect(health.body == "{\"status\":\"ok\"}\n")
        #expect(health.header("content-type") == "application/json")
        let ready = try await HTTPTestClient.request(port: port, method: "GET", path: "/readyz")
        #expect(ready.status == 200)
        #expect(ready.body == "{\"status\":\"ready\"}\n")
        let posted = try await HTTPTestClient.request(port: port, method: "POST", path: "/readyz")
        #expect(posted.status == 405)

        // A keep-alive connection opened before the stop still gets answers: not ready, healthy.
        var client = try await RawWebSocketClient.connect(port: port)
        let before = try await client.request("GET /readyz HTTP/1.1\r\nHost: h\r\n\r\n")
        #expect(before.hasPrefix("HTTP/1.1 200"))
        try await server.stop()
        try await client.send(Array("GET /readyz HTTP/1.1\r\nHost: h\r\n\r\nGET /healthz HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n".utf8))
        let rest = try await client.readToEnd()
        let statuses = rest.components(separatedBy: "HTTP/1.1 ").dropFirst().map { $0.prefix(3) }
        #expect(statuses == ["503", "200"], "\(rest)")
        #expect(rest.contains("{\"status\":\"stopping\"}"))
        await client.close()
    }
}
