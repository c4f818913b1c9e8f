import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import WebSocket

// Input: [options] [limits] [split seed] then the bytes a client sends after the handshake.
//
// options: bit 0 permessage-deflate negotiated; bit 1 client_no_context_takeover; bit 2
//          server_no_context_takeover; bits 3-5 the client's window (8 + n, at most 15);
//          bit 6 also run the stream through WebSocketHandler on an EmbeddedChannel, whose
//          channel turns unwritable and writable again as the chunks pass (bit 7 of the
//          first payload byte decides where).
// limits:  low nibble: largest frame = 2^(4+n); high nibble: largest message = 2^(4+n).
//
// Asserts: the parser and the state machine produce the same events whether the stream
// arrives whole or split; every frame re-encodes to itself; delivered messages respect the
// limit and text ones are UTF-8; pongs and control frames stay ≤ 125 bytes; nothing happens
// after the connection is closed; the handler writes only well-formed server frames and
// never writes a pong while the channel is not writable.

private struct Case {
    var deflate: PerMessageDeflateParameters?
    var maxFrameSize: Int
    var maxMessageSize: Int
    var drivesHandler: Bool
    var splitSeed: UInt8
    var stream: ArraySlice<UInt8>

    init(_ input: inout FuzzInput) {
        let options = input.byte()
        let limits = input.byte()
        splitSeed = input.byte()
        stream = input.rest()
        maxFrameSize = 1 << (4 + Int(limits & 0x0F))
        maxMessageSize = 1 << (4 + Int(limits >> 4))
        drivesHandler = options & 0x40 != 0
        if options & 1 != 0 {
            deflate = PerMessageDeflateParameters(
                serverNoContextTakeover: options & 4 != 0,
                clientNoContextTakeover: options & 2 != 0,
                serverMaxWindowBits: 15,
                clientMaxWindowBits: min(8 + Int((options >> 3) & 7), 15),
                responseHeaderValue: "permessage-deflate"
            )
        }
    }
}

private enum Event: Equatable {
    case action(WebSocketConnectionStateMachine.Action)
    case parseError(WebSocketError)
}

/// Parser and state machine, as `WebSocketHandler` drives them, over `pieces` in turn.
private func events(_ fuzzCase: Case, _ pieces: [ArraySlice<UInt8>]) -> [Event] {
    var parser = WebSocketFrameParser(role: .server, maxFrameSize: fuzzCase.maxFrameSize)
    var machine = WebSocketConnectionStateMachine(maxMessageSize: fuzzCase.maxMessageSize, deflate: fuzzCase.deflate)
    var events: [Event] = []
    for piece in pieces {
        parser.append(ByteBuffer(bytes: piece))
        while true {
            let frame: WebSocketFrame
            do {
                guard case .frame(let parsed) = try parser.parseStep() else { break }
                frame = parsed
            } catch {
                events.append(.parseError(error))
                events.append(.action(machine.fail(error)))
                return events
            }
            check(frame, fuzzCase)
            let before = machine.state
            let action = machine.receive(frame)
            check(action, before: before, after: machine.state, fuzzCase)
            events.append(.action(action))
        }
    }
    return events
}

private func check(_ frame: WebSocketFrame, _ fuzzCase: Case) {
    fuzzCheck(frame.payload.readableBytes <= fuzzCase.maxFrameSize, "frame over the limit")
    if frame.opcode.isControl {
        fuzzCheck(frame.fin && frame.payload.readableBytes <= 125, "control frame fragmented or over 125 bytes")
    }
    // What the parser read, encoded again as a client would, reads back the same.
    var reparser = WebSocketFrameParser(role: .server, maxFrameSize: fuzzCase.maxFrameSize)
    reparser.append(WebSocketFrameEncoder.encode(frame, maskKey: 0x0102_0304))
    guard case .frame(let again)? = try? reparser.parseStep() else { fuzzFailure("re-encoded frame does not parse") }
    fuzzCheck(again == frame, "re-encoded frame parses differently")
}

private func check(
    _ action: WebSocketConnectionStateMachine.Action,
    before: WebSocketConnectionStateMachine.State,
    after: WebSocketConnectionStateMachine.State,
    _ fuzzCase: Case
) {
    if before == .closed { fuzzCheck(action == .none, "action after the connection closed: \(action)") }
    switch action {
    case .none, .fail:
        break
    case .deliver(let message):
        fuzzCheck(message.data.readableBytes <= fuzzCase.maxMessageSize, "message over the limit")
        if message.kind == .text {
            fuzzCheck(String(validating: message.data.readableBytesView, as: UTF8.self) != nil, "text message is not UTF-8")
        }
    case .sendPong(let payload):
        fuzzCheck(payload.readableBytes <= 125, "pong over 125 bytes")
    case .replyToClose, .closeCompleted:
        fuzzCheck(after == .closed, "closing handshake done but state is \(after)")
    }
}

private final class Echo: WebSocketApplication {
    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        socket.send(message)
    }
}

/// The same stream through the channel handler, with the channel's writability toggled.
private func driveHandler(_ fuzzCase: Case, _ pieces: [ArraySlice<UInt8>]) {
    var configuration = WebSocketConfiguration()
    configuration.maxFrameSize = fuzzCase.maxFrameSize
    configuration.maxMessageSize = fuzzCase.maxMessageSize
    configuration.pingInterval = nil
    configuration.idleTimeout = nil
    let handshake = WebSocketHandshakeResult(
        request: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"),
        subprotocol: nil,
        deflate: fuzzCase.deflate,
        responseHeaders: [:]
    )
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    guard (try? channel.pipeline.syncOperations.addHandler(
        WebSocketHandler(handshake: handshake, configuration: configuration, application: Echo())
    )) != nil else { fuzzFailure("cannot add the handler") }

    // What the server writes, read as a client reads it.
    var output = WebSocketFrameParser(role: .client, maxFrameSize: Int.max)
    func serverFrames() -> [WebSocketFrame] {
        while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { output.append(buffer) }
        var frames: [WebSocketFrame] = []
        while true {
            do {
                guard case .frame(let frame) = try output.parseStep() else { return frames }
                frames.append(frame)
            } catch {
                fuzzFailure("the server wrote a malformed frame: \(error)")
            }
        }
    }

    for (index, piece) in pieces.enumerated() {
        // Flip writability every few pieces, where the stream's own bits say.
        if let first = piece.first, first & 0x80 != 0, index % 3 == 0 {
            channel.isWritable.toggle()
            channel.pipeline.fireChannelWritabilityChanged()
        }
        _ = serverFrames()
        let writable = channel.isWritable
        do {
            try channel.writeInbound(ByteBuffer(bytes: piece))
        } catch {
            return  // the handler closed the channel
        }
        let written = serverFrames()
        if !writable {
            fuzzCheck(!written.contains { $0.opcode == .pong }, "a pong was written while the channel was not writable")
        }
    }
    channel.isWritable = true
    channel.pipeline.fireChannelWritabilityChanged()
    _ = serverFrames()
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let fuzzCase = Case(&input)
    let pieces = chunks(of: fuzzCase.stream, seed: fuzzCase.splitSeed)
    let whole = events(fuzzCase, [fuzzCase.stream])
    let split = events(fuzzCase, pieces)
    fuzzCheck(whole == split, "the split stream gave other events than the whole one")
    if fuzzCase.drivesHandler { driveHandler(fuzzCase, pieces) }
    return 0
}

runLibFuzzer(fuzz)
