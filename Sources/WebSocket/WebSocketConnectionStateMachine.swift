import NIOCore

/// The lifecycle of one WebSocket connection after the handshake: message reassembly,
/// validation and decompression (RFC 6455 §5.4, §5.6, §8.1; RFC 7692 §6), control frames
/// (§5.5) and the closing handshake (§7).
///
/// It performs no I/O: each input returns an `Action` for the channel handler to carry out, so
/// every rule is unit-tested without sockets.
public struct WebSocketConnectionStateMachine {
    public enum State: Equatable, Sendable {
        /// Messages flow both ways.
        case open
        /// We sent a close frame and wait for the peer's; incoming data is ignored.
        case closeSent
        /// Both close frames were exchanged (or the connection failed); only TCP teardown is left.
        case closed
    }

    /// What the handler must do after an input.
    public enum Action: Equatable {
        case none
        /// Hand a complete message to the application.
        case deliver(WebSocketMessage)
        /// Answer a ping with a pong carrying the same payload (§5.5.2).
        case sendPong(ByteBuffer)
        /// The peer started the closing handshake: send this close frame, then drop TCP (§7.1.1,
        /// the server closes the TCP connection first). `code` is `nil` for an empty close.
        case replyToClose(code: WebSocketCloseCode?, reason: String)
        /// The peer answered our close frame: drop TCP.
        case closeCompleted
        /// Fail the connection (§7.1.7): send a close frame with the error's code, then drop
        /// TCP once the peer answers or the close timeout passes.
        case fail(WebSocketError)
    }

    private struct PartialMessage {
        var kind: WebSocketMessage.Kind
        var isCompressed: Bool
        var data: ByteBuffer
        var validator = UTF8Validator()
    }

    public private(set) var state: State = .open
    /// The close code the peer sent, once it has sent one (1005 for an empty close).
    public private(set) var peerCloseCode: WebSocketCloseCode?
    private let maxMessageSize: Int
    private let deflate: PerMessageDeflateParameters?
    private var inflater: PerMessageInflater?
    private var partial: PartialMessage?
    private let allocator: ByteBufferAllocator

    public init(
        maxMessageSize: Int,
        deflate: PerMessageDeflateParameters?,
        allocator: ByteBufferAllocator = .init()
    ) {
        self.maxMessageSize = maxMessageSize
        self.deflate = deflate
        self.allocator = allocator
    }

    /// Processes one frame from the peer.
    public mutating func receive(_ frame: WebSocketFrame) -> Action {
        switch state {
        case .closed:
            return .none
        case .closeSent:
            // §5.5.1: after sending close we only wait for the peer's close; data is dropped.
            guard frame.opcode == .close else { return .none }
            state = .closed
            peerCloseCode = Self.closeCode(in: frame.payload) ?? .noStatusReceived
            return .closeCompleted
        case .open:
            do {
                return try receiveOpen(frame)
            } catch {
                return fail(error)
            }
        }
    }

    /// Starts a closing handshake from our side. Returns `false` when one is already under way,
    /// in which case no close frame may be sent.
    public mutating func startClosing() -> Bool {
        guard state == .open else { return false }
        state = .closeSent
        partial = nil
        return true
    }

    /// Records a failure detected outside `receive` (a parser error): same as `.fail`.
    public mutating func fail(_ error: WebSocketError) -> Action {
        guard state == .open else { return .none }
        state = .closeSent
        partial = nil
        return .fail(error)
    }

    private mutating func receiveOpen(_ frame: WebSocketFrame) throws(WebSocketError) -> Action {
        if frame.rsv2 || frame.rsv3 { throw .reservedBitsSet }
        if frame.opcode.isControl {
            if frame.rsv1 { throw .reservedBitsSet }
            return try receiveControl(frame)
        }
        switch frame.opcode {
        case .continuation:
            if frame.rsv1 { throw .reservedBitsSet }  // RFC 7692 §6.1: RSV1 only on the first frame
            guard partial != nil else { throw .unexpectedContinuation }
            return try append(frame)
        default:
            guard partial == nil else { throw .expectedContinuation }
            if frame.rsv1 && deflate == nil { throw .reservedBitsSet }
            let kind: WebSocketMessage.Kind = frame.opcode == .text ? .text : .binary
            if frame.fin && !frame.rsv1 {
                // The common case, a whole uncompressed message in one frame: no copy.
                if kind == .text {
                    var validator = UTF8Validator()
                    let valid = frame.payload.withUnsafeReadableBytes { validator.feed($0) }
                    guard valid, validator.isAtBoundary else { throw .invalidUTF8 }
                }
                guard frame.payload.readableBytes <= maxMessageSize else {
                    throw .messageTooLarge(limit: maxMessageSize)
                }
                return .deliver(WebSocketMessage(kind: kind, data: frame.payload))
            }
            partial = PartialMessage(
                kind: kind,
                isCompressed: frame.rsv1,
                data: allocator.buffer(capacity: frame.rsv1 ? 0 : frame.payload.readableBytes)
            )
            return try append(frame)
        }
    }

    private mutating func append(_ frame: WebSocketFrame) throws(WebSocketError) -> Action {
        guard var message = partial else { throw .unexpectedContinuation }
        partial = nil  // keep `message.data` uniquely referenced while it grows
        let start = message.data.writerIndex
        if message.isCompressed {
            let inflater = try self.currentInflater()
            try inflater.inflate(frame.payload, into: &message.data, limit: maxMessageSize)
            if frame.fin {
                try inflater.finishMessage(into: &message.data, limit: maxMessageSize)
                if deflate?.clientNoContextTakeover == true { inflater.reset() }
            }
        } else {
            guard message.data.readableBytes + frame.payload.readableBytes <= maxMessageSize else {
                throw .messageTooLarge(limit: maxMessageSize)
            }
            var payload = frame.payload
            message.data.writeBuffer(&payload)
        }
        if message.kind == .text {
            let end = message.data.writerIndex
            let valid = message.data.withUnsafeReadableBytes { bytes in
                let offset = start - message.data.readerIndex
                return message.validator.feed(UnsafeRawBufferPointer(rebasing: bytes[offset..<(end - message.data.readerIndex)]))
            }
            guard valid else { throw .invalidUTF8 }
            if frame.fin && !message.validator.isAtBoundary { throw .invalidUTF8 }
        }
        if frame.fin {
            return .deliver(WebSocketMessage(kind: message.kind, data: message.data))
        }
        partial = message
        return .none
    }

    private mutating func currentInflater() throws(WebSocketError) -> PerMessageInflater {
        if let inflater { return inflater }
        guard let created = PerMessageInflater() else { throw .invalidCompressedData }
        inflater = created
        return created
    }

    private mutating func receiveControl(_ frame: WebSocketFrame) throws(WebSocketError) -> Action {
        switch frame.opcode {
        case .ping:
            return .sendPong(frame.payload)
        case .pong:
            return .none
        default:  // close; the parser admits no other control opcode
            var payload = frame.payload
            switch payload.readableBytes {
            case 0:
                state = .closed
                peerCloseCode = .noStatusReceived
                return .replyToClose(code: nil, reason: "")
            case 1:
                throw .invalidClosePayload
            default:
                guard let raw = payload.readInteger(as: UInt16.self) else { throw .invalidClosePayload }
                let code = WebSocketCloseCode(rawValue: raw)
                guard code.isValidOnWire else { throw .invalidCloseCode(raw) }
                var validator = UTF8Validator()
                let valid = payload.withUnsafeReadableBytes { validator.feed($0) }
                guard valid, validator.isAtBoundary else { throw .invalidCloseReason }
                state = .closed
                peerCloseCode = code
                return .replyToClose(code: code, reason: "")
            }
        }
    }

    private static func closeCode(in payload: ByteBuffer) -> WebSocketCloseCode? {
        payload.getInteger(at: payload.readerIndex, as: UInt16.self).map(WebSocketCloseCode.init(rawValue:))
    }
}
