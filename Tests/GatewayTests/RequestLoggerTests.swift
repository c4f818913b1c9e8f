import Foundation
@testable import Gateway
import Hub
import Logging
import NIOConcurrencyHelpers
import NIOPosix
import Testing

/// Refused HTTP requests are logged at `notice`, one JSON line each, with a connection id, the
/// client's address, the method and the path — and never a query string, a header or a secret.
@Suite struct RequestLoggerTests {
    static let apiKey = "api-key-secret-0123456789"
    static let jwtSecret = "hs256-secret-that-is-at-least-32-bytes-long"
    static let token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJldmUifQ.c2lnbmF0dXJlLXNlY3JldA"
    static let cookie = "session=cookie-secret-value"

    private final class Lines: Sendable {
        private let box = NIOLockedValueBox<[String]>([])
        var all: [String] { box.withLockedValue { $0 } }
        func append(_ line: String) { box.withLockedValue { $0.append(line) } }
    }

    private func objects(_ lines: Lines) throws -> [[String: Any]] {
        try lines.all.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func refusalsAreLoggedWithoutSecrets() async throws {
        let lines = Lines()
        let logger = Logger(label: "perigee") { label in
            LineLogHandler(label: label, format: .json, level: .debug) { lines.append($0) }
        }
        var configuration = GatewayConfiguration()
        configuration.host = "127.0.0.1"
        configuration.port = 0
        configuration.stompPort = 0
        configuration.webRoot = nil
        configuration.apiKeys = ["backend": Self.apiKey]
        configuration.jwt.hs256Secret = Self.jwtSecret
        let server = try await GatewayServer.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton, logger: logger)
        let port = server.httpPort
        var handshakeStatus = 0
        do {
            // A forged token in the query and a cookie: 401, logged without either.
            let forged = try await HTTPTestClient.request(
                port: port, method: "POST", path: "/api/publish/topic/a?token=\(Self.token)",
                headers: ["Authorization: Bearer \(Self.token)", "Cookie: \(Self.cookie)"], body: "x"
            )
            #expect(forged.status == 401)
            // An unknown API key: 403.
            let unknown = try await HTTPTestClient.request(
                port: port, method: "POST", path: "/api/publish/topic/a", headers: ["Authorization: Bearer not-\(Self.apiKey)"], body: "x"
            )
            #expect(unknown.status == 403)
            // A malformed request head: 400 from the connection guard.
            var raw = try await RawWebSocketClient.connect(port: port)
            let malformed = try await raw.request("GET /x?token=\(Self.token) HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n")
            #expect(malformed.hasPrefix("HTTP/1.1 400"))
            await raw.close()
            // A WebSocket handshake without its key: 400 with the handshake's reason.
            let handshake = try await HTTPTestClient.request(
                port: port, method: "GET", path: "/stomp?token=\(Self.token)", headers: ["Upgrade: websocket", "Connection: Upgrade"]
            )
            handshakeStatus = handshake.status
            #expect(handshake.status == 400 || handshake.status == 426)
        } catch {
            try? await server.stop()
            throw error
        }
        try await server.stop()

        let all = lines.all.joined()
        for secret in [Self.apiKey, Self.jwtSecret, Self.token, Self.cookie, "cookie-secret-value", "token="] {
            #expect(!all.contains(secret), "a log line holds \(secret)")
        }
        let refusals = try objects(lines).filter { $0["msg"] as? String == "request refused" }
        #expect(refusals.count == 4, "\(lines.all)")
        for refusal in refusals {
            #expect(refusal["level"] as? String == "notice")
            #expect((refusal["connection"] as? String)?.hasPrefix("http-") == true)
            #expect(refusal["address"] as? String == "127.0.0.1")
            #expect(refusal["reason"] is String)
        }
        try #require(refusals.count == 4)
        #expect(refusals.map { $0["status"] as? Int }.prefix(3) == [401, 403, 400])
        #expect(refusals[0]["path"] as? String == "/api/publish/topic/a")
        #expect(refusals[0]["method"] as? String == "POST")
        #expect((refusals[0]["reason"] as? String)?.hasPrefix("unauthorized: ") == true)
        #expect(refusals[2]["path"] == nil)  // the head never parsed: no request to name
        #expect(refusals[3]["path"] as? String == "/stomp")
        #expect(refusals[3]["status"] as? Int == handshakeStatus)
    }

    @Test func stompCredentialRefusalsAreLoggedWithoutTheCredential() async throws {
        let lines = Lines()
        let logger = Logger(label: "perigee") { label in
            LineLogHandler(label: label, format: .text, level: .info) { lines.append($0) }
        }
        let gatekeeper = GatewayGatekeeper(policy: .standard, apiKeys: ["backend": Self.apiKey], tokens: nil, hooks: nil, logger: logger)
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let context = ClientContext(transport: "websocket", address: try .init(ipAddress: "127.0.0.1", port: 4000))
        let request = StompConnectRequest(headers: ["login": "eve", "passcode": "wrong-passcode-secret"], sessionName: "session-7", client: context, eventLoop: loop)
        guard case .decided(.failure) = gatekeeper.authenticate(request) else {
            Issue.record("a wrong passcode was accepted")
            return
        }
        #expect(lines.all.count == 1)
        let line = try #require(lines.all.first)
        #expect(line.contains(" notice perigee: credential refused "))
        #expect(line.contains(" session=session-7 ") && line.contains(" transport=websocket") && line.contains(" address=127.0.0.1 "))
        #expect(!line.contains("wrong-passcode-secret"))
    }

    @Test func secretsDescribeThemselvesRedacted() {
        var configuration = GatewayConfiguration()
        configuration.apiKeys = ["backend": Self.apiKey]
        configuration.jwt.hs256Secret = Self.jwtSecret
        configuration.hooks.connect = "https://user:hook-password@app.example:8443/hook?key=hook-query-secret"
        var context = ClientContext(transport: "websocket", address: nil)
        context.httpHeaders = [("cookie", Self.cookie)]
        context.queryToken = Self.token
        let headers: StompHeaders = ["login": "eve", "passcode": "stomp-passcode-secret", "Authorization": "Bearer \(Self.token)"]
        var dumped = ""
        dump(configuration, to: &dumped)
        dump(context, to: &dumped)
        dump(headers, to: &dumped)
        dump(Credential.token(Self.token), to: &dumped)
        let texts = [
            "\(configuration)", String(reflecting: configuration), "\(context)", "\(headers)", String(reflecting: headers),
            "\(Credential.token(Self.token))", dumped,
        ]
        for text in texts {
            for secret in [Self.apiKey, Self.jwtSecret, Self.token, "cookie-secret-value", "stomp-passcode-secret", "hook-password", "hook-query-secret"] {
                #expect(!text.contains(secret), "\(secret) in \(text)")
            }
        }
        #expect("\(configuration)".contains("backend"))
        #expect("\(headers)" == "[login:eve, passcode:<redacted>, Authorization:<redacted>]")
        #expect(LogRedaction.url("https://user:pw@app.example:8443/hook?key=k#f") == "https://app.example:8443/hook")
        #expect(LogRedaction.url("http://127.0.0.1:8000") == "http://127.0.0.1:8000")
        #expect(LogRedaction.url("no scheme") == "<redacted>")
    }
}
