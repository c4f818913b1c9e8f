import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import WebSocket

@Suite struct Hixie76Tests {
    /// The worked example of draft-hixie-thewebsocketprotocol-76 §1.3.
    @Test func answersTheDraftsExample() throws {
        let number1 = try #require(Hixie76Handshake.number(fromKey: "18x 6]8vM;54 *(5:  {   U1]8  z [  8"))
        let number2 = try #require(Hixie76Handshake.number(fromKey: "1_ tx7X d  <  nw  334J702) 7]o}` 0"))
        #expect(number1 == 155_712_099)
        #expect(number2 == 173_347_027)
        let answer = Hixie76Handshake.response(number1: number1, number2: number2, key3: Array("Tm[K T2u".utf8))
        #expect(answer == Array("fQJ,fN/4F4!~K~MH".utf8))
    }

    @Test func rejectsMalformedKeys() {
        #expect(Hixie76Handshake.number(fromKey: "12345") == nil)  // no spaces
        #expect(Hixie76Handshake.number(fromKey: "1 2 3") == nil)  // 123 is not divisible by 2
        #expect(Hixie76Handshake.number(fromKey: "   ") == nil)  // no digits
    }

    @Test func isOnlyAcceptedWhereEnabled() throws {
        let head = HTTPRequestHead(version: .http1_1, method: .GET, uri: "/x", headers: [
            "Host": "h", "Upgrade": "WebSocket", "Connection": "Upgrade", "Origin": "http://o",
            "Sec-WebSocket-Key1": "4 @1  46546xW%0l 1 5", "Sec-WebSocket-Key2": "12998 5 Y3 1  .P00",
        ])
        var endpoint = WebSocketEndpoint { _, _ in fatalError("unused") }
        #expect(throws: WebSocketHandshakeError.self) { try WebSocketHandshake.negotiate(head, endpoint: endpoint) }
        endpoint.acceptsHixie76 = true
        let result = try WebSocketHandshake.negotiate(head, endpoint: endpoint)
        #expect(result.hixie76Numbers != nil)
        #expect(result.responseHeaders.first(name: "Sec-WebSocket-Location") == "ws://h/x")
        #expect(result.responseHeaders.first(name: "Sec-WebSocket-Origin") == "http://o")
    }

    @Test func framesTextAfterTheChallenge() throws {
        final class Echo: WebSocketApplication {
            var opened = false
            func webSocketDidOpen(_ socket: any WebSocketConnection) { opened = true }
            func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) { socket.send(message) }
        }
        let echo = Echo()
        let (channel, _) = try attach(echo, maxMessageSize: 1024)
        try channel.writeInbound(ByteBuffer(string: "Tm[K"))
        #expect(!echo.opened)
        try channel.writeInbound(ByteBuffer(bytes: Array(" T2u".utf8) + [0x00] + Array("hi".utf8) + [0xFF]))
        #expect(echo.opened)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "fQJ,fN/4F4!~K~MH"))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0x00] + Array("hi".utf8) + [0xFF]))
        try channel.writeInbound(ByteBuffer(bytes: [0xFF, 0x00]))
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(bytes: [0xFF, 0x00]))
    }

    private final class Recorder: WebSocketApplication {
        var received: [WebSocketMessage] = []
        func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) { received.append(message) }
    }

    /// A draft-76 connection right after its 101, with the key numbers of the draft's example.
    private func attach(_ application: any WebSocketApplication, maxMessageSize: Int) throws -> (EmbeddedChannel, Hixie76Handler) {
        let handshake = WebSocketHandshakeResult(
            request: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), subprotocol: nil, deflate: nil, responseHeaders: [:]
        )
        let handler = Hixie76Handler(
            handshake: handshake, numbers: (155_712_099, 173_347_027), maxMessageSize: maxMessageSize, application: application
        )
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(handler)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()  // so that isActive means something
        return (channel, handler)
    }

    /// An open draft-76 connection (key3 already answered) and what its application received.
    private func openConnection(maxMessageSize: Int) throws -> (EmbeddedChannel, Hixie76Handler, Recorder) {
        let recorder = Recorder()
        let (channel, handler) = try attach(recorder, maxMessageSize: maxMessageSize)
        try channel.writeInbound(ByteBuffer(string: "12345678"))
        _ = try channel.readOutbound(as: ByteBuffer.self)
        return (channel, handler, recorder)
    }

    /// Issue 7: the frame scan used to restart at the message's first byte on every read, so a
    /// message arriving a byte at a time cost quadratic work. Each byte is now examined once.
    @Test func scansASlowMessageOnce() throws {
        let limit = 64 * 1024
        let (channel, handler, recorder) = try openConnection(maxMessageSize: limit)
        let length = limit - 16
        try channel.writeInbound(ByteBuffer(bytes: [0x00]))
        for _ in 0..<length {
            try channel.writeInbound(ByteBuffer(bytes: [UInt8(ascii: "a")]))
        }
        try channel.writeInbound(ByteBuffer(bytes: [0xFF]))
        #expect(recorder.received.map(\.data.readableBytes) == [length])
        #expect(handler.scannedBytes <= length + 1, "scanned \(handler.scannedBytes) bytes for a \(length)-byte message")
    }

    /// A client that always leaves part of the next message pending keeps the buffer from ever
    /// emptying: consumed bytes must still be dropped.
    @Test func dropsConsumedBytesWhileAMessageIsAlwaysPending() throws {
        let (channel, handler, recorder) = try openConnection(maxMessageSize: 1024)
        let message = [UInt8(0x00)] + [UInt8](repeating: UInt8(ascii: "m"), count: 500) + [0xFF]
        // Reads of one message's length, shifted by half a message: each ends inside a message.
        var wire = ByteBuffer(bytes: Array(repeating: message, count: 2_000).joined())
        var readLength = message.count / 2
        while let chunk = wire.readSlice(length: min(readLength, wire.readableBytes)), chunk.readableBytes > 0 {
            readLength = message.count
            try channel.writeInbound(chunk)
        }
        #expect(recorder.received.count == 2_000)
        #expect(handler.bufferCapacity < 256 * 1024, "the handler holds \(handler.bufferCapacity) bytes")
        // Release the channel (and the 2,000 messages the recorder holds) for the tests that run
        // beside this one.
        _ = try? channel.finish(acceptAlreadyClosed: true)
        recorder.received.removeAll()
    }

    /// Found by FuzzHandshake: a message that arrived whole in one read skipped the size check,
    /// which only looked at messages still waiting for their 0xFF.
    @Test(arguments: [true, false])
    func refusesAMessageOverTheLimitWhetherWholeOrPartial(whole: Bool) throws {
        let (channel, _, recorder) = try openConnection(maxMessageSize: 16)
        try channel.writeInbound(ByteBuffer(bytes: [0x00] + Array("exactly sixteen!".utf8) + [0xFF]))
        #expect(recorder.received.map { String(buffer: $0.data) } == ["exactly sixteen!"])
        let message = [0x00] + Array("seventeen bytes!!".utf8) + [0xFF]
        if whole {
            try channel.writeInbound(ByteBuffer(bytes: message))
        } else {
            for byte in message where channel.isActive { try channel.writeInbound(ByteBuffer(bytes: [byte])) }
        }
        #expect(recorder.received.count == 1)
        #expect(!channel.isActive)
    }

    /// The fuzzer's input itself (after its three control bytes): key3, then an 18-byte message
    /// in one read, with a 16-byte limit.
    @Test func refusesTheFuzzersOversizedMessage() throws {
        let recorder = Recorder()
        let (channel, _) = try attach(recorder, maxMessageSize: 16)
        let input: [UInt8] = [
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x10, 0x00, 0x10, 0x00, 0x00,
            0x00, 0x01, 0x03, 0x00, 0x00, 0x52, 0x61, 0x6E, 0x2C, 0x65, 0x00, 0xFF, 0x00, 0x00, 0x00, 0xFF,
            0x00, 0x00,
        ]
        _ = try? channel.writeInbound(ByteBuffer(bytes: input))
        #expect(recorder.received.isEmpty)
        #expect(!channel.isActive)
    }

    /// As for RFC 6455: a client that sends the closing bytes and stops reading must not hold
    /// the connection past the close timeout.
    @Test func closesAfterTheTimeoutWhenTheClientClosesButDoesNotRead() throws {
        let (channel, _, _) = try openConnection(maxMessageSize: 1024)
        try channel.pipeline.syncOperations.addHandler(StuckSocket(), position: .first)
        try channel.writeInbound(ByteBuffer(bytes: [0xFF, 0x00]))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive)
    }
}
