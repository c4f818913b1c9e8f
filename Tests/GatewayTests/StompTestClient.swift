import Hub
import NIOCore
import NIOSSL
@testable import WebSocket

/// A STOMP client for tests over TCP or over WebSocket (`/stomp`), reading frames with the
/// hub's own parser.
struct StompTestClient {
    enum Transport {
        case tcp
        case webSocket
    }

    private var raw: RawWebSocketClient
    private let transport: Transport
    private var parser = StompParser(version: .v1_2)
    private var pending: [StompFrame] = []

    static func connect(
        _ server: GatewayServerHandle,
        over transport: Transport,
        headers: StompHeaders = ["accept-version": "1.2", "host": "localhost"],
        expectConnected: Bool = true
    ) async throws -> StompTestClient {
        var client = try await open(server, over: transport)
        try await client.send(StompFrame(.connect, headers: headers))
        if expectConnected {
            let connected = try await client.next()
            guard connected?.command == .connected else {
                throw RawWebSocketClient.HandshakeFailed(response: "expected CONNECTED, got \(String(describing: connected))")
            }
        }
        return client
    }

    /// A connection with no CONNECT sent yet.
    static func open(_ server: GatewayServerHandle, over transport: Transport) async throws -> StompTestClient {
        switch transport {
        case .tcp:
            return StompTestClient(raw: try await RawWebSocketClient.connect(port: server.stompPort), transport: .tcp)
        case .webSocket:
            let (raw, _) = try await RawWebSocketClient.open(port: server.httpPort, path: "/stomp", headers: ["Sec-WebSocket-Protocol: v12.stomp"])
            return StompTestClient(raw: raw, transport: .webSocket)
        }
    }

    /// STOMP over TLS to `port`, connected (CONNECTED received).
    static func connectTLS(port: Int, context: NIOSSLContext) async throws -> StompTestClient {
        var client = StompTestClient(raw: try await RawWebSocketClient.connect(port: port, tls: context), transport: .tcp)
        try await client.send(.connect, ["accept-version": "1.2", "host": "localhost"])
        let connected = try await client.next()
        guard connected?.command == .connected else {
            throw RawWebSocketClient.HandshakeFailed(response: "expected CONNECTED over TLS, got \(String(describing: connected))")
        }
        return client
    }

    /// The certificate the server presented, for a TLS connection.
    func peerCertificate() async throws -> NIOSSLCertificate? {
        try await raw.peerCertificate()
    }

    private init(raw: RawWebSocketClient, transport: Transport) {
        self.raw = raw
        self.transport = transport
    }

    func send(_ frame: StompFrame) async throws {
        try await sendRaw(StompEncoder.encode(frame, version: .v1_2))
    }

    func sendRaw(_ bytes: ByteBuffer) async throws {
        switch transport {
        case .tcp: try await raw.send(bytes)
        case .webSocket: try await raw.send(.text, Array(bytes.readableBytesView))
        }
    }

    func send(_ command: StompCommand, _ headers: StompHeaders, body: String = "") async throws {
        try await send(StompFrame(command, headers: headers, body: ByteBuffer(string: body)))
    }

    /// The next frame (heart-beats skipped), or nil once the server closed the connection.
    mutating func next() async throws -> StompFrame? {
        while true {
            if !pending.isEmpty { return pending.removeFirst() }
            switch transport {
            case .tcp:
                guard let chunk = try await raw.nextChunkPublic() else { return nil }
                parser.append(chunk)
            case .webSocket:
                guard let frame = try await raw.nextFrame() else { return nil }
                if frame.opcode == .close { return nil }
                guard frame.opcode == .text || frame.opcode == .binary else { continue }
                parser.append(frame.payload)
            }
            while true {
                let result = try parser.parseStep()
                if case .frame(let frame) = result { pending.append(frame) }
                if result == .needMoreData { break }
            }
        }
    }

    /// Reads until the server closes; returns whether it did (and any frames before).
    mutating func drainUntilClosed() async throws -> [StompFrame] {
        var frames: [StompFrame] = []
        while let frame = try await next() { frames.append(frame) }
        return frames
    }

    func close() async {
        await raw.close()
    }

    func setReading(_ on: Bool) async throws {
        try await raw.setReading(on)
    }
}

/// What the STOMP tests need of a running server.
struct GatewayServerHandle {
    var httpPort: Int
    var stompPort: Int
}
