import NIOHTTP1
import Testing
@testable import WebSocket

@Suite struct WebSocketHandshakeTests {
    private let endpoint = WebSocketEndpoint(
        selectSubprotocol: { offered, _ in
            offered.first { ["v12.stomp", "v11.stomp", "v10.stomp"].contains($0) }.map { .accept($0) } ?? .none
        },
        acceptOrigin: { origin in origin != "http://evil.example" },
        makeApplication: { _, _ in fatalError("not used") }
    )

    private func request(
        method: HTTPMethod = .GET,
        version: HTTPVersion = .http1_1,
        _ headers: [(String, String)] = []
    ) -> HTTPRequestHead {
        var all = HTTPHeaders([
            ("Host", "127.0.0.1"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
            ("Sec-WebSocket-Version", "13"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ])
        for (name, value) in headers {
            all.replaceOrAdd(name: name, value: value)
        }
        return HTTPRequestHead(version: version, method: method, uri: "/stomp", headers: all)
    }

    private func refusal(_ head: HTTPRequestHead) -> WebSocketHandshakeError? {
        do {
            _ = try WebSocketHandshake.negotiate(head, endpoint: endpoint)
            return nil
        } catch {
            return error
        }
    }

    @Test func computesTheRFCSampleAcceptValue() throws {
        #expect(WebSocketHandshake.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let result = try WebSocketHandshake.negotiate(request(), endpoint: endpoint)
        #expect(result.responseHeaders.first(name: "Sec-WebSocket-Accept") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        #expect(result.subprotocol == nil)
        #expect(result.deflate == nil)
    }

    @Test func acceptsTokensInAnyCaseAndLists() throws {
        let head = request([("Upgrade", "WebSocket"), ("Connection", "keep-alive, UPGRADE")])
        #expect(throws: Never.self) { try WebSocketHandshake.negotiate(head, endpoint: endpoint) }
    }

    @Test func refusesOtherVersionsWith426() throws {
        let error = try #require(refusal(request([("Sec-WebSocket-Version", "8")])))
        #expect(error.status == .upgradeRequired)
        #expect(error.headers.first(name: "Sec-WebSocket-Version") == "13")
    }

    @Test func refusesBadRequestsWith400AndAReason() throws {
        var missingKey = request()
        missingKey.headers.remove(name: "Sec-WebSocket-Key")
        #expect(refusal(missingKey) == .missingKey)
        #expect(refusal(request([("Sec-WebSocket-Key", "short")])) == .malformedKey)
        #expect(refusal(request([("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ")])) == .malformedKey)
        #expect(refusal(request([("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j$Q==")])) == .malformedKey)
        #expect(refusal(request(method: .POST)) == .methodNotGet("POST"))
        #expect(refusal(request([("Connection", "keep-alive")])) == .missingConnectionUpgrade)
        #expect(refusal(request(version: .http1_0)) == .httpVersionTooOld)
        for error: WebSocketHandshakeError in [.missingKey, .malformedKey, .methodNotGet("POST"), .missingConnectionUpgrade] {
            #expect(error.status == .badRequest)
            #expect(!error.message.isEmpty)
        }
    }

    @Test func checksOrigin() {
        let error = refusal(request([("Origin", "http://evil.example")]))
        #expect(error == .originRejected("http://evil.example"))
        #expect(error?.status == .forbidden)
        #expect(refusal(request([("Origin", "http://good.example")])) == nil)
    }

    @Test func selectsASubprotocolThroughTheHook() throws {
        let result = try WebSocketHandshake.negotiate(
            request([("Sec-WebSocket-Protocol", "mqtt, v11.stomp, v12.stomp")]),
            endpoint: endpoint
        )
        #expect(result.subprotocol == "v11.stomp")
        #expect(result.responseHeaders.first(name: "Sec-WebSocket-Protocol") == "v11.stomp")
        let none = try WebSocketHandshake.negotiate(request([("Sec-WebSocket-Protocol", "mqtt")]), endpoint: endpoint)
        #expect(none.subprotocol == nil)
        #expect(!none.responseHeaders.contains(name: "Sec-WebSocket-Protocol"))
    }

    @Test func negotiatesDeflateInTheResponse() throws {
        let result = try WebSocketHandshake.negotiate(
            request([("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")]),
            endpoint: endpoint
        )
        #expect(result.deflate != nil)
        #expect(result.responseHeaders.first(name: "Sec-WebSocket-Extensions") == "permessage-deflate")
    }
}
