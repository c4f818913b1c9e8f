import NIOCore
import NIOEmbedded
import NIOHTTP1
import Testing
@testable import WebSocket

private final class Recorder: WebSocketApplication {
    var received: [WebSocketMessage] = []
    var closedWith: WebSocketCloseCode??
    var echo = true

    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        received.append(message)
        if echo { socket.send(message) }
    }

    func webSocketDidClose(_ socket: any WebSocketConnection, code: WebSocketCloseCode?) {
        closedWith = .some(code)
    }
}

/// Holds every write and flush, as a socket does whose peer stopped reading: no write completes.
final class StuckSocket: ChannelOutboundHandler {
    typealias OutboundIn = ByteBuffer
    private var held: [EventLoopPromise<Void>] = []

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if let promise { held.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {}

    func close(context: ChannelHandlerContext, mode: CloseMode, promise: EventLoopPromise<Void>?) {
        for promise in held { promise.fail(ChannelError.ioOnClosedChannel) }
        held = []
        context.close(mode: mode, promise: promise)
    }
}

@Suite struct WebSocketHandlerTests {
    private func makeChannel(
        deflate: PerMessageDeflateParameters? = nil,
        configure: (inout WebSocketConfiguration) -> Void = { _ in }
    ) throws -> (EmbeddedChannel, Recorder) {
        var configuration = WebSocketConfiguration()
        configuration.pingInterval = nil
        configuration.idleTimeout = nil
        configure(&configuration)
        let recorder = Recorder()
        let handshake = WebSocketHandshakeResult(
            request: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/", headers: ["Cookie": "session=abc"]),
            subprotocol: nil,
            deflate: deflate,
            responseHeaders: [:]
        )
        let channel = EmbeddedChannel()
        try channel.pipeline.syncOperations.addHandler(
            WebSocketHandler(handshake: handshake, configuration: configuration, application: recorder)
        )
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()  // so that isActive means something
        return (channel, recorder)
    }

    /// Every frame the server wrote so far.
    private func serverFrames(_ channel: EmbeddedChannel) throws -> [WebSocketFrame] {
        var parser = WebSocketFrameParser(role: .client, maxFrameSize: 1 << 24)
        while let buffer = try channel.readOutbound(as: ByteBuffer.self) {
            parser.append(buffer)
        }
        var frames: [WebSocketFrame] = []
        while case .frame(let frame) = try parser.parseStep() { frames.append(frame) }
        return frames
    }

    @Test func echoesAndAnswersPings() throws {
        let (channel, recorder) = try makeChannel()
        var input = TestFrames.masked(.text, Array("hello".utf8))
        var ping = TestFrames.masked(.ping, [1, 2, 3])
        input.writeBuffer(&ping)
        try channel.writeInbound(input)
        let frames = try serverFrames(channel)
        #expect(frames.map(\.opcode) == [.text, .pong])
        #expect(String(buffer: frames[0].payload) == "hello")
        #expect(frames[1].payload == ByteBuffer(bytes: [1, 2, 3]))
        #expect(recorder.received == [.text("hello")])
    }

    @Test func failsWithTheExactCodeAndHalfCloses() throws {
        let (channel, recorder) = try makeChannel()
        try channel.writeInbound(ByteBuffer(bytes: [0x81, 0x02, 0x68, 0x69]))  // unmasked
        let frames = try serverFrames(channel)
        #expect(frames.map(\.opcode) == [.close])
        #expect(frames.first?.payload.getInteger(at: frames[0].payload.readerIndex, as: UInt16.self) == 1002)
        // Later input is discarded; the peer's EOF finishes the connection.
        try channel.writeInbound(TestFrames.masked(.text, Array("ignored".utf8)))
        #expect(try serverFrames(channel).isEmpty)
        #expect(recorder.received.isEmpty)
        _ = try? channel.finish()
        #expect(recorder.closedWith == .some(nil))
    }

    @Test func answersTheClosingHandshakeAndCloses() throws {
        let (channel, recorder) = try makeChannel()
        try channel.writeInbound(TestFrames.masked(.close, [0x03, 0xE8] + Array("done".utf8)))
        let frames = try serverFrames(channel)
        #expect(frames.map(\.opcode) == [.close])
        #expect(frames[0].payload.getInteger(at: frames[0].payload.readerIndex, as: UInt16.self) == 1000)
        #expect(!channel.isActive)
        #expect(recorder.closedWith == .some(.normalClosure))
    }

    @Test func compressesLargeMessagesAndNotSmallOnes() throws {
        let parameters = try #require(PerMessageDeflateNegotiation.negotiate(
            offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
            configuration: .init()
        ))
        let (channel, recorder) = try makeChannel(deflate: parameters)
        recorder.echo = false
        let handler = try channel.pipeline.syncOperations.handler(type: WebSocketHandler.self)
        let big = String(repeating: "fan-out ", count: 100)
        handler.send(.text(big))
        handler.send(.text("tiny"))
        handler.flush()
        let frames = try serverFrames(channel)
        #expect(frames.map(\.rsv1) == [true, false])
        #expect(frames[0].payload.readableBytes < 100)
        var machine = WebSocketConnectionStateMachine(maxMessageSize: 1 << 20, deflate: parameters)
        #expect(machine.receive(frames[0]) == .deliver(.text(big)))
    }

    /// Issue 8: an open connection does not hold its handshake's headers.
    @Test func releasesTheHandshakeHeadersOnceOpen() throws {
        let (channel, _) = try makeChannel()
        let handler = try channel.pipeline.syncOperations.handler(type: WebSocketHandler.self)
        #expect(handler.handshake.request.headers.isEmpty)
        #expect(handler.handshake.responseHeaders.isEmpty)
    }

    @Test func sharesOneCompressedBroadcastAcrossConnections() throws {
        var configuration = PerMessageDeflateConfiguration()
        configuration.serverNoContextTakeover = true
        let offers = [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])]
        let parameters = try #require(PerMessageDeflateNegotiation.negotiate(offers: offers, configuration: configuration))
        let sharingBits = try #require(parameters.sharingWindowBits)

        let text = String(repeating: "one payload, many subscribers; ", count: 40)
        var outbound = WebSocketOutboundMessage(.text(text))
        WebSocketMessageCompressor(configuration: configuration).prepare(&outbound, windowBits: sharingBits)
        let shared = try #require(outbound.compressed[sharingBits])

        var payloads: [ByteBuffer] = []
        for _ in 0..<2 {
            let (channel, _) = try makeChannel(deflate: parameters)
            let handler = try channel.pipeline.syncOperations.handler(type: WebSocketHandler.self)
            handler.send(outbound)
            handler.flush()
            let frames = try serverFrames(channel)
            #expect(frames.count == 1)
            #expect(frames[0].rsv1)
            payloads.append(frames[0].payload)
            var machine = WebSocketConnectionStateMachine(maxMessageSize: 1 << 20, deflate: parameters)
            #expect(machine.receive(frames[0]) == .deliver(.text(text)))
        }
        // The shared frame is written as is: its payload is what each connection sent.
        let headerLength = shared.readableBytes - payloads[0].readableBytes
        #expect(headerLength == 2 || headerLength == 4)
        let sharedPayload = shared.getSlice(at: shared.readerIndex + headerLength, length: payloads[0].readableBytes)
        #expect(payloads[0] == sharedPayload)
        #expect(payloads[1] == sharedPayload)
    }

    @Test func pingsAQuietPeerAndDropsASilentOne() throws {
        let (channel, recorder) = try makeChannel {
            $0.pingInterval = .milliseconds(100)
            $0.idleTimeout = .milliseconds(250)
        }
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(try serverFrames(channel).map(\.opcode) == [.ping])
        try channel.writeInbound(TestFrames.masked(.pong, []))
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(200))
        #expect(try serverFrames(channel).map(\.opcode) == [.ping, .ping])
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(300))
        let frames = try serverFrames(channel)
        #expect(frames.last?.opcode == .close)
        #expect(frames.last.flatMap { $0.payload.getInteger(at: $0.payload.readerIndex, as: UInt16.self) } == 1001)
        channel.embeddedEventLoop.advanceTime(by: .seconds(5))  // close timeout
        #expect(!channel.isActive)
        #expect(recorder.closedWith == .some(nil))
    }

    /// Issue 7: a client that floods pings while not reading made the server queue a pong per
    /// ping, without bound. While the channel is not writable only the latest ping is answered
    /// (RFC 6455 §5.5.3), once it drains.
    @Test func holdsOnePongWhileTheClientIsNotReading() throws {
        let (channel, _) = try makeChannel()
        channel.isWritable = false
        channel.pipeline.fireChannelWritabilityChanged()
        var flood = ByteBuffer()
        for index in 0..<10_000 {
            var ping = TestFrames.masked(.ping, Array("ping \(index)".utf8))
            flood.writeBuffer(&ping)
        }
        try channel.writeInbound(flood)
        #expect(try serverFrames(channel).isEmpty)

        channel.isWritable = true
        channel.pipeline.fireChannelWritabilityChanged()
        let frames = try serverFrames(channel)
        #expect(frames.map(\.opcode) == [.pong])
        #expect(frames.first.map { String(buffer: $0.payload) } == "ping 9999")

        // Writable again: every ping is answered at once.
        try channel.writeInbound(TestFrames.masked(.ping, [7]))
        #expect(try serverFrames(channel).map(\.payload) == [ByteBuffer(bytes: [7])])
    }

    @Test func doesNotPingAPeerThatIsNotReading() throws {
        let (channel, _) = try makeChannel { $0.pingInterval = .milliseconds(100) }
        channel.isWritable = false
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(1000))
        #expect(try serverFrames(channel).isEmpty)
        channel.isWritable = true
        channel.embeddedEventLoop.advanceTime(by: .milliseconds(100))
        #expect(try serverFrames(channel).map(\.opcode) == [.ping])
    }

    /// A peer that sends its close frame and then stops reading used to hold the connection
    /// (and all output queued for it) forever: the server closed only once our close frame was
    /// flushed. The close timeout now applies to this path too.
    @Test func closesAfterTheTimeoutWhenThePeerClosesButDoesNotRead() throws {
        let (channel, recorder) = try makeChannel { $0.closeTimeout = .seconds(3) }
        try channel.pipeline.syncOperations.addHandler(StuckSocket(), position: .first)
        try channel.writeInbound(TestFrames.masked(.close, [0x03, 0xE8]))
        #expect(channel.isActive)
        channel.embeddedEventLoop.advanceTime(by: .seconds(3))
        #expect(!channel.isActive)
        #expect(recorder.closedWith == .some(.normalClosure))
    }
}
