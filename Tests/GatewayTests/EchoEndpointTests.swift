import NIOCore
import Gateway
import Testing
@testable import WebSocket

/// The conformance echo endpoint over real sockets, including every kind of bad input: each
/// must close only the connection that sent it, with the exact close code, while another open
/// connection keeps working.
@Suite(.timeLimit(.minutes(1)))
struct EchoEndpointTests {
    /// Sends `text` on `client` and expects it back.
    private func expectEcho(_ client: inout RawWebSocketClient, _ text: String) async throws {
        try await client.send(.text, Array(text.utf8))
        let frame = try #require(try await client.nextFrame())
        #expect(frame.opcode == .text)
        #expect(String(buffer: frame.payload) == text)
    }

    private func expectOnlyOffenderClosed(
        code expected: UInt16,
        extensions: [String] = [],
        configure: (inout GatewayConfiguration) -> Void = { _ in },
        offend: (inout RawWebSocketClient) async throws -> Void
    ) async throws {
        try await withTestServer(configure) { server in
            let port = server.httpPort
            var (good, _) = try await RawWebSocketClient.open(port: port)
            var (bad, _) = try await RawWebSocketClient.open(port: port, headers: extensions)
            try await expectEcho(&good, "before")
            try await offend(&bad)
            let close = try #require(try await bad.awaitClose())
            #expect(close.code == expected, "reason: \(close.reason)")
            #expect(!close.reason.isEmpty)
            #expect(close.tcpClosed)
            try await expectEcho(&good, "still here")
            await good.close()
        }
    }

    @Test func echoesTextAndBinaryOverRealSockets() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            var (client, response) = try await RawWebSocketClient.open(port: port)
            #expect(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
            try await expectEcho(&client, "hello")
            try await client.send(.binary, [0, 1, 2, 255], fin: false)
            try await client.send(.ping, Array("p".utf8))
            try await client.send(.continuation, [7])
            let pong = try #require(try await client.nextFrame())
            #expect(pong.opcode == .pong)
            let binary = try #require(try await client.nextFrame())
            #expect(binary.opcode == .binary)
            #expect(binary.payload == ByteBuffer(bytes: [0, 1, 2, 255, 7]))
            try await client.send(.close, [0x03, 0xE8])
            let close = try #require(try await client.awaitClose())
            #expect(close.code == 1000)
            #expect(close.tcpClosed)
        }
    }

    @Test func negotiatesAndEchoesCompressedMessages() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            var (client, response) = try await RawWebSocketClient.open(
                port: port,
                headers: ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]
            )
            #expect(response.contains("Sec-WebSocket-Extensions: permessage-deflate"))
            let text = String(repeating: "squeeze me ", count: 200)
            let deflater = try #require(PerMessageDeflater(windowBits: 15, noContextTakeover: true, level: 6, memoryLevel: 8))
            let compressed = deflater.compress(ByteBuffer(string: text), allocator: .init())
            try await client.send(.text, Array(compressed.readableBytesView), rsv1: true)
            let frame = try #require(try await client.nextFrame())
            #expect(frame.rsv1)
            #expect(frame.payload.readableBytes < text.utf8.count / 4)
            let parameters = try #require(PerMessageDeflateNegotiation.negotiate(
                offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
                configuration: .init()
            ))
            var machine = WebSocketConnectionStateMachine(maxMessageSize: 1 << 20, deflate: parameters)
            #expect(machine.receive(frame) == .deliver(.text(text)))
            await client.close()
        }
    }

    @Test func unmaskedFrameGets1002() async throws {
        try await expectOnlyOffenderClosed(code: 1002) { try await $0.send([0x81, 0x02, 0x68, 0x69]) }
    }

    @Test func reservedOpcodeGets1002() async throws {
        try await expectOnlyOffenderClosed(code: 1002) { try await $0.send(WebSocketOpcode(rawValue: 0x3), [1, 2]) }
    }

    @Test func lengthOf2To63Gets1002() async throws {
        try await expectOnlyOffenderClosed(code: 1002) {
            try await $0.send([0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78])
        }
    }

    @Test func oversizedPingGets1002() async throws {
        try await expectOnlyOffenderClosed(code: 1002) {
            try await $0.send(.ping, [UInt8](repeating: 0x61, count: 126))
        }
    }

    @Test func fragmentedPingGets1002() async throws {
        try await expectOnlyOffenderClosed(code: 1002) {
            // Both frames in one write: the server fails on the first and stops reading.
            var bytes = WebSocketFrameEncoder.encode(
                WebSocketFrame(fin: false, opcode: .ping, payload: ByteBuffer(bytes: [1])),
                maskKey: 7
            )
            var rest = WebSocketFrameEncoder.encode(WebSocketFrame(opcode: .continuation, payload: ByteBuffer(bytes: [2])), maskKey: 7)
            bytes.writeBuffer(&rest)
            try await $0.send(bytes)
        }
    }

    @Test func invalidUTF8TextGets1007() async throws {
        try await expectOnlyOffenderClosed(code: 1007) {
            try await $0.send(.text, Array("valid start ".utf8) + [0xF4, 0x90, 0x80, 0x80])
        }
    }

    @Test func invalidUTF8CloseReasonGets1007() async throws {
        try await expectOnlyOffenderClosed(code: 1007) {
            try await $0.send(.close, [0x03, 0xE8, 0xC0, 0xAF])
        }
    }

    @Test func messageOverTheLimitGets1009() async throws {
        try await expectOnlyOffenderClosed(code: 1009, configure: { $0.echoWebSocket.maxMessageSize = 1000 }) {
            try await $0.send(.binary, [UInt8](repeating: 1, count: 600), fin: false)
            try await $0.send(.continuation, [UInt8](repeating: 1, count: 600))
        }
    }

    @Test func deflateBombGets1009() async throws {
        let deflater = try #require(PerMessageDeflater(windowBits: 15, noContextTakeover: true, level: 9, memoryLevel: 9))
        let bomb = deflater.compress(ByteBuffer(repeating: 0, count: 64 << 20), allocator: .init())
        try await expectOnlyOffenderClosed(
            code: 1009,
            extensions: ["Sec-WebSocket-Extensions: permessage-deflate"],
            configure: { $0.echoWebSocket.maxMessageSize = 1 << 20 }
        ) {
            try await $0.send(.binary, Array(bomb.readableBytesView), rsv1: true)
        }
    }

    @Test func handshakeWithoutKeyGets400WithAReason() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            var (good, _) = try await RawWebSocketClient.open(port: port)
            var client = try await RawWebSocketClient.connect(port: port)
            let response = try await client.request(RawWebSocketClient.handshake(path: "/echo/websocket", headers: [], key: nil))
            #expect(response.hasPrefix("HTTP/1.1 400"))
            let body = try await client.readToEnd()
            #expect(body.contains("missing Sec-WebSocket-Key"))
            try await expectEcho(&good, "unaffected")
            await good.close()
        }
    }

    @Test func wrongVersionGets426WithTheSupportedVersion() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            var client = try await RawWebSocketClient.connect(port: port)
            let request = RawWebSocketClient.handshake(path: "/echo/websocket", headers: [], version: "8")
            let response = try await client.request(request)
            #expect(response.hasPrefix("HTTP/1.1 426"))
            #expect(response.contains("Sec-WebSocket-Version: 13"))
        }
    }

    @Test func unknownPathGets404() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            var client = try await RawWebSocketClient.connect(port: port)
            let response = try await client.request(RawWebSocketClient.handshake(path: "/nowhere", headers: []))
            #expect(response.hasPrefix("HTTP/1.1 404"))
        }
    }

    @Test func echoIsOffWithoutConformanceMode() async throws {
        try await withTestServer({ $0.conformance = false }) { server in
            let port = server.httpPort
            var client = try await RawWebSocketClient.connect(port: port)
            let response = try await client.request(RawWebSocketClient.handshake(path: "/echo/websocket", headers: []))
            #expect(response.hasPrefix("HTTP/1.1 404"))
        }
    }
}
