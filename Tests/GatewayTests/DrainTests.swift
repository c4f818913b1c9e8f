import Foundation
import Gateway
import Hub
import NIOCore
import NIOPosix
import Testing
import WebSocket

/// The graceful drain (issue 10, item 4) over real sockets: every transport hears its own
/// goodbye after what was published before the drain, `/readyz` turns 503 `draining`, new
/// connections are refused, and the drain ends as soon as the clients left, or closes what
/// is left at its deadline.
@Suite(.timeLimit(.minutes(1)))
struct DrainTests {
    private static let farewell = "message:server shutting down"

    private func start(timeout: TimeAmount) async throws -> GatewayServer {
        var configuration = GatewayConfiguration()
        configuration.port = 0
        configuration.stompPort = -1
        configuration.webRoot = nil
        configuration.conformance = true
        configuration.accessPolicy = .open
        configuration.drainTimeout = timeout
        return try await GatewayServer.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
    }

    @Test func everyTransportHearsItsGoodbyeAfterWhatWasPublished() async throws {
        let server = try await start(timeout: .seconds(10))
        let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
        let port = server.httpPort

        var tcp = try await StompTestClient.connect(handle, over: .tcp)
        try await subscribe(&tcp)
        var webSocket = try await stompWebSocket(port: port)
        var streaming = SockJSStompClient(port: port, receiving: .xhrStreaming)
        try await streaming.open()
        try await streaming.send(.connect, ["accept-version": "1.2", "host": "h"])
        #expect(try await streaming.next()?.command == .connected)
        try await streaming.send(.subscribe, ["id": "s", "destination": "/topic/drain", "receipt": "r"])
        #expect(try await streaming.next()?.command == .receipt)
        var polling = try await KeepAlivePolling(port: port)
        var echo = try await RawWebSocketClient.open(port: port).0
        var probe = try await RawWebSocketClient.connect(port: port)

        let published = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/topic/drain", body: "before")
        #expect(published.status == 202)

        let drain = Task { await server.drain() }
        // The probe's connection is held open by the polling session, which owes its client a
        // close frame until it polls again.
        var ready = ""
        var body = ""
        for _ in 0..<100 where !ready.hasPrefix("HTTP/1.1 503") {
            ready = try await probe.request("GET /readyz HTTP/1.1\r\nHost: h\r\n\r\n")
            body = try await probe.nextChunkPublic().map { String(buffer: $0) } ?? ""
            if !ready.hasPrefix("HTTP/1.1 503") { try await Task.sleep(for: .milliseconds(5)) }
        }
        #expect(ready.hasPrefix("HTTP/1.1 503"), "\(ready)")
        #expect(body.contains("{\"status\":\"draining\"}"), "\(body)")
        let refused = try await probe.request("POST /api/publish/topic/drain HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nlater")
        #expect(refused.hasPrefix("HTTP/1.1 503"), "a publish during the drain: \(refused)")
        var refusedConnection = false
        for _ in 0..<100 where !refusedConnection {
            do {
                let extra = try await RawWebSocketClient.connect(port: port)
                await extra.close()
                try await Task.sleep(for: .milliseconds(5))
            } catch {
                refusedConnection = true
            }
        }
        #expect(refusedConnection, "the listener is closed")

        let tcpFrames = try await tcp.drainUntilClosed()
        #expect(tcpFrames.map(\.command) == [.message, .error])
        #expect(tcpFrames.first.map { String(buffer: $0.body) } == "before")
        #expect(tcpFrames.last?.headers["message"] == "server shutting down")

        let (texts, code) = try await readUntilClose(&webSocket)
        #expect(texts.count == 2 && texts[0].hasPrefix("MESSAGE") && texts[0].hasSuffix("before\0"), "\(texts)")
        #expect(texts.last?.contains(Self.farewell) == true)
        #expect(code == 1001)

        #expect(try await streaming.next().map { String(buffer: $0.body) } == "before")
        #expect(try await streaming.next()?.headers["message"] == "server shutting down")
        #expect(try await streaming.next() == nil)
        #expect(streaming.closeFrame == "c[3000,\"Go away!\"]")

        let polls = try await polling.pollUntilClosed()
        #expect(polls.last == "c[3000,\"Go away!\"]", "\(polls)")
        #expect(polls.dropLast().joined().contains("server shutting down"), "\(polls)")

        let echoClose = try await echo.awaitClose()
        #expect(echoClose?.code == 1001)

        let report = await drain.value
        #expect(report.told == 4, "tcp, websocket, xhr-streaming and xhr-polling STOMP sessions")
        #expect(report.forced == 0)
        #expect(report.elapsedMilliseconds < 10_000)
        #expect(server.connectionCount == 0)
        await probe.close()
        try await server.stop()
    }

    @Test func closesWhatIsLeftAtTheDeadline() async throws {
        let server = try await start(timeout: .milliseconds(500))
        // A request whose body never comes: the connection cannot close at a response's end.
        var stuck = try await RawWebSocketClient.connect(port: server.httpPort)
        try await stuck.send(Array("POST /api/publish/topic/x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nabc".utf8))
        try await Task.sleep(for: .milliseconds(50))
        let report = await server.drain()
        #expect(report.forced == 1)
        #expect(report.elapsedMilliseconds >= 500 && report.elapsedMilliseconds < 5_000, "\(report)")
        _ = try await stuck.readToEnd()  // EOF: closed by force
        // The client can read the EOF before the server's loop has run the channel's close
        // callbacks: wait for the count, with a deadline.
        #expect(await Self.eventually { server.connectionCount == 0 })
        try await server.stop()
    }

    /// Polls `condition` every 10 ms until it holds (true) or 5 s pass (false).
    private static func eventually(_ condition: () -> Bool) async -> Bool {
        let deadline = ContinuousClock.now + .seconds(5)
        while !condition() {
            guard ContinuousClock.now < deadline else { return false }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    @Test func endsAtOnceWhenNobodyIsConnected() async throws {
        let server = try await start(timeout: .seconds(30))
        let report = await server.drain()
        #expect(report.told == 0 && report.forced == 0)
        #expect(report.elapsedMilliseconds < 2_000)
        try await server.stop()
    }

    @Test func aSecondDrainOrStopIsHarmless() async throws {
        let server = try await start(timeout: .zero)
        let handle = GatewayServerHandle(httpPort: server.httpPort, stompPort: server.stompPort)
        var tcp = try await StompTestClient.connect(handle, over: .tcp)
        let report = await server.drain()
        #expect(report.told == 1)
        _ = try await tcp.drainUntilClosed()
        _ = await server.drain()
        try await server.stop()
    }

    // MARK: Helpers

    private func subscribe(_ client: inout StompTestClient) async throws {
        try await client.send(.subscribe, ["id": "s", "destination": "/topic/drain", "receipt": "r"])
        #expect(try await client.next()?.command == .receipt)
    }

    private func stompWebSocket(port: Int) async throws -> RawWebSocketClient {
        var (socket, _) = try await RawWebSocketClient.open(port: port, path: "/stomp", headers: ["Sec-WebSocket-Protocol: v12.stomp"])
        for frame in ["CONNECT\naccept-version:1.2\nhost:h\n\n\0", "SUBSCRIBE\nid:s\ndestination:/topic/drain\nreceipt:r\n\n\0"] {
            try await socket.send(.text, Array(frame.utf8))
            let answer = try await socket.nextFrame()
            #expect(answer.map { String(buffer: $0.payload) }?.hasPrefix(frame.hasPrefix("CONNECT") ? "CONNECTED" : "RECEIPT") == true)
        }
        return socket
    }

    /// Text messages until the close frame, and its code.
    private func readUntilClose(_ socket: inout RawWebSocketClient) async throws -> ([String], UInt16?) {
        var texts: [String] = []
        while let frame = try await socket.nextFrame() {
            if frame.opcode == .close {
                var payload = frame.payload
                return (texts, payload.readInteger(as: UInt16.self))
            }
            if frame.opcode == .text { texts.append(String(buffer: frame.payload)) }
        }
        return (texts, nil)
    }
}

/// A STOMP client on SockJS xhr-polling that polls over one keep-alive connection, as
/// browsers do: a drain closes the listener, and the poll that fetches the close frame
/// still needs a connection.
private struct KeepAlivePolling {
    let port: Int
    let url = "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    private var connection: RawWebSocketClient

    init(port: Int) async throws {
        self.port = port
        connection = try await RawWebSocketClient.connect(port: port)
        #expect(try await poll() == "o")
        let frames = ["CONNECT\naccept-version:1.2\nhost:h\n\n\0", "SUBSCRIBE\nid:s\ndestination:/topic/drain\nreceipt:r\n\n\0"]
        for frame in frames {
            let body = String(decoding: try JSONSerialization.data(withJSONObject: [frame]), as: UTF8.self)
            let sent = try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr_send", body: body)
            #expect(sent.status == 204)
            #expect(try await poll().hasPrefix("a[\"" + (frame.hasPrefix("CONNECT") ? "CONNECTED" : "RECEIPT")))
        }
    }

    /// One poll: the SockJS frame it answered.
    mutating func poll() async throws -> String {
        let head = try await connection.request("POST \(url)/xhr HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
        var raw = ""
        if let length = head.lowercased().components(separatedBy: "content-length: ").dropFirst().first?.prefix(while: \.isNumber), let count = Int(length) {
            while raw.utf8.count < count, let chunk = try await connection.nextChunkPublic() { raw += String(buffer: chunk) }
            return raw.trimmingCharacters(in: .newlines)
        }
        while !raw.hasSuffix("0\r\n\r\n"), let chunk = try await connection.nextChunkPublic() { raw += String(buffer: chunk) }
        return HTTPTestClient.dechunk(raw).trimmingCharacters(in: .newlines)
    }

    /// Polls until the close frame; returns every frame.
    mutating func pollUntilClosed() async throws -> [String] {
        var frames: [String] = []
        while frames.count < 10 {
            let frame = try await poll()
            frames.append(frame)
            if frame.hasPrefix("c") || frame.isEmpty { break }
        }
        return frames
    }
}
