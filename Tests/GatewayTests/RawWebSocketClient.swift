import NIOCore
import NIOPosix
import NIOSSL
@testable import WebSocket

/// A deliberately low-level WebSocket client for tests: it writes whatever bytes a test gives
/// it, so that it can break the protocol in ways a real client library refuses to.
struct RawWebSocketClient {
    struct HandshakeFailed: Error, CustomStringConvertible {
        var response: String
        var description: String { "handshake failed: \(response)" }
    }

    /// Hands every inbound chunk to an `AsyncStream` and finishes it at EOF.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let continuation: AsyncStream<ByteBuffer>.Continuation

        init(_ continuation: AsyncStream<ByteBuffer>.Continuation) { self.continuation = continuation }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            continuation.yield(unwrapInboundIn(data))
        }

        func channelInactive(context: ChannelHandlerContext) {
            continuation.finish()
        }
    }

    private let channel: Channel
    private var inbound: AsyncStream<ByteBuffer>.AsyncIterator
    private var parser = WebSocketFrameParser(role: .client, maxFrameSize: 64 << 20)
    private var pending = ByteBuffer()

    /// Opens a TCP connection without any handshake; with `tls`, a TLS connection (the
    /// server's certificate is not verified: tests compare it instead, `peerCertificate()`).
    static func connect(port: Int, tls: NIOSSLContext? = nil) async throws -> RawWebSocketClient {
        let (stream, continuation) = AsyncStream<ByteBuffer>.makeStream()
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    if let tls {
                        try channel.pipeline.syncOperations.addHandler(NIOSSLClientHandler(context: tls, serverHostname: nil))
                    }
                    try channel.pipeline.syncOperations.addHandler(Collector(continuation))
                }
            }
            .connect(host: "127.0.0.1", port: port).get()
        return RawWebSocketClient(channel: channel, inbound: stream.makeAsyncIterator())
    }

    /// Connects and completes a handshake on `path`; throws unless the answer is 101.
    static func open(port: Int, path: String = "/echo/websocket", headers: [String] = []) async throws -> (RawWebSocketClient, String) {
        var client = try await connect(port: port)
        let response = try await client.request(handshake(path: path, headers: headers))
        guard response.hasPrefix("HTTP/1.1 101") else { throw HandshakeFailed(response: response) }
        return (client, response)
    }

    static func handshake(path: String, headers: [String], key: String? = "dGhlIHNhbXBsZSBub25jZQ==", version: String = "13") -> String {
        var lines = [
            "GET \(path) HTTP/1.1", "Host: 127.0.0.1", "Upgrade: websocket", "Connection: Upgrade",
            "Sec-WebSocket-Version: \(version)",
        ]
        if let key { lines.append("Sec-WebSocket-Key: \(key)") }
        return (lines + headers).joined(separator: "\r\n") + "\r\n\r\n"
    }

    /// Sends an HTTP request and returns the response head (through the blank line); any bytes
    /// after it stay buffered for frame parsing.
    mutating func request(_ text: String) async throws -> String {
        try await send(ByteBuffer(string: text))
        while true {
            let view = pending.readableBytesView
            if let end = view.firstRange(of: Array("\r\n\r\n".utf8)) {
                let headLength = end.upperBound - view.startIndex
                let head = pending.readString(length: headLength) ?? ""
                return head
            }
            guard var chunk = try await nextChunk(what: "an HTTP response") else {
                return pending.readString(length: pending.readableBytes) ?? ""
            }
            pending.writeBuffer(&chunk)
        }
    }

    /// Reads whatever the server sends until it closes, as text (for HTTP error bodies).
    mutating func readToEnd() async throws -> String {
        while var chunk = try await nextChunk(what: "the end of the response") {
            pending.writeBuffer(&chunk)
        }
        return pending.readString(length: pending.readableBytes) ?? ""
    }

    /// The certificate a TLS server presented (after its first answer: the handshake is done).
    func peerCertificate() async throws -> NIOSSLCertificate? {
        try await channel.nioSSL_peerCertificate().get()
    }

    func send(_ bytes: ByteBuffer) async throws {
        try await channel.writeAndFlush(bytes)
    }

    func send(_ bytes: [UInt8]) async throws {
        try await send(ByteBuffer(bytes: bytes))
    }

    /// Sends a masked frame.
    func send(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) async throws {
        let frame = WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: ByteBuffer(bytes: payload))
        try await send(WebSocketFrameEncoder.encode(frame, maskKey: 0x1234_5678))
    }

    /// The next frame from the server, or nil once the server closed TCP.
    mutating func nextFrame() async throws -> WebSocketFrame? {
        if pending.readableBytes > 0 {
            parser.append(pending)
            pending.clear()
        }
        while true {
            if case .frame(let frame) = try parser.parseStep() { return frame }
            guard let chunk = try await nextChunk(what: "a frame") else { return nil }
            parser.append(chunk)
        }
    }

    /// Reads frames until a close frame; returns its code (nil for an empty close) and whether
    /// the server then closed TCP.
    mutating func awaitClose() async throws -> (code: UInt16?, reason: String, tcpClosed: Bool)? {
        while let frame = try await nextFrame() {
            guard frame.opcode == .close else { continue }
            var payload = frame.payload
            let code = payload.readInteger(as: UInt16.self)
            let reason = payload.readString(length: payload.readableBytes) ?? ""
            // Answer as a well-behaved client would, then expect EOF.
            try? await send(.close, code.map { [UInt8($0 >> 8), UInt8($0 & 0xFF)] } ?? [])
            var closed = false
            while true {
                guard let more = try? await nextChunk(what: "TCP close") else {
                    closed = true
                    break
                }
                _ = more
            }
            return (code, reason, closed)
        }
        return nil
    }

    /// Stops or resumes reading from the socket, to play a client that does not keep up.
    func setReading(_ on: Bool) async throws {
        try await channel.setOption(ChannelOptions.autoRead, value: on).get()
    }

    func close() async {
        try? await channel.close()
    }

    /// The next raw inbound chunk, nil at EOF (for non-WebSocket protocols on the socket).
    mutating func nextChunkPublic() async throws -> ByteBuffer? {
        if pending.readableBytes > 0 {
            let chunk = pending
            pending.clear()
            return chunk
        }
        return try await nextChunk(what: "data")
    }

    /// The next inbound chunk, nil at EOF. Hangs are bounded by the suites' time limits.
    private mutating func nextChunk(what: String) async throws -> ByteBuffer? {
        await inbound.next()
    }
}
