import NIOCore

/// An incremental RFC 6455 §5.2 frame parser.
///
/// Bytes are appended as they arrive; `parseStep` returns one frame at a time or
/// `.needMoreData`. Header checks that need no payload (masking, reserved opcodes, control frame
/// rules, the 64-bit length's top bit, the frame size limit) fail as soon as the header is
/// complete, so a hostile length never makes the server wait for or allocate a huge payload.
/// RSV bits are passed through: only the connection knows which extension defines them.
public struct WebSocketFrameParser {
    /// The outcome of one `parseStep`.
    public enum ParseResult: Equatable {
        case needMoreData
        case frame(WebSocketFrame)
    }

    private struct Header {
        var fin: Bool
        var rsv1: Bool
        var rsv2: Bool
        var rsv3: Bool
        var opcode: WebSocketOpcode
        var maskKey: UInt32?
        var length: Int
    }

    private enum State {
        case awaitingHeader
        case awaitingPayload(Header)
    }

    /// The largest payload a single frame may carry; larger frames fail with 1009.
    public var maxFrameSize: Int
    private let role: WebSocketRole
    private var state: State = .awaitingHeader
    private var buffer: ByteBuffer
    private let allocator: ByteBufferAllocator

    public init(role: WebSocketRole = .server, maxFrameSize: Int, allocator: ByteBufferAllocator = .init()) {
        self.role = role
        self.maxFrameSize = maxFrameSize
        self.allocator = allocator
        self.buffer = allocator.buffer(capacity: 0)
    }

    /// Bytes received but not yet consumed by a frame.
    public var bufferedBytes: Int { buffer.readableBytes }

    /// The cumulation buffer's capacity, consumed bytes included: what the parser holds in memory.
    var bufferCapacity: Int { buffer.capacity }

    /// Adds received bytes.
    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            // The common case: no partial frame pending, so adopt the buffer without copying.
            buffer = bytes
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// Parses at most one frame from the buffered bytes.
    public mutating func parseStep() throws(WebSocketError) -> ParseResult {
        while true {
            switch state {
            case .awaitingHeader:
                guard let header = try parseHeader() else {
                    buffer.discardConsumedBytes()
                    return .needMoreData
                }
                state = .awaitingPayload(header)
            case .awaitingPayload(let header):
                guard buffer.readableBytes >= header.length,
                    let masked = buffer.readSlice(length: header.length)
                else {
                    // Also here: a peer whose every read ends inside a payload never brings the
                    // parser back to a header boundary.
                    buffer.discardConsumedBytes()
                    return .needMoreData
                }
                state = .awaitingHeader
                let payload = unmasked(masked, key: header.maskKey)
                return .frame(
                    WebSocketFrame(
                        fin: header.fin,
                        rsv1: header.rsv1,
                        rsv2: header.rsv2,
                        rsv3: header.rsv3,
                        opcode: header.opcode,
                        payload: payload
                    )
                )
            }
        }
    }

    private mutating func parseHeader() throws(WebSocketError) -> Header? {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self),
            let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self)
        else { return nil }

        let opcode = WebSocketOpcode(rawValue: first)
        let fin = first & 0x80 != 0
        guard opcode.isDefined else { throw .reservedOpcode(opcode.rawValue) }
        if opcode.isControl && !fin { throw .fragmentedControlFrame }

        let isMasked = second & 0x80 != 0
        switch role {
        case .server where !isMasked: throw .unmaskedFrame
        case .client where isMasked: throw .maskedServerFrame
        default: break
        }

        let shortLength = Int(second & 0x7F)
        var offset = 2
        let length: Int
        switch shortLength {
        case 126:
            guard let value = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt16.self) else { return nil }
            length = Int(value)
            offset += 2
        case 127:
            guard let value = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt64.self) else { return nil }
            guard value & (1 << 63) == 0 else { throw .invalidLength }
            guard value <= UInt64(maxFrameSize) else { throw .frameTooLarge(limit: maxFrameSize) }
            length = Int(value)
            offset += 8
        default:
            length = shortLength
        }
        if opcode.isControl && length > 125 { throw .controlFrameTooLong }
        guard length <= maxFrameSize else { throw .frameTooLarge(limit: maxFrameSize) }

        var maskKey: UInt32?
        if isMasked {
            guard let key = buffer.getInteger(at: buffer.readerIndex + offset, as: UInt32.self) else { return nil }
            maskKey = key
            offset += 4
        }
        buffer.moveReaderIndex(forwardBy: offset)
        return Header(
            fin: fin,
            rsv1: first & 0x40 != 0,
            rsv2: first & 0x20 != 0,
            rsv3: first & 0x10 != 0,
            opcode: opcode,
            maskKey: maskKey,
            length: length
        )
    }

    private func unmasked(_ masked: ByteBuffer, key: UInt32?) -> ByteBuffer {
        guard let key else { return masked }
        var output = allocator.buffer(capacity: masked.readableBytes)
        masked.withUnsafeReadableBytes { source in
            _ = output.writeWithUnsafeMutableBytes(minimumWritableBytes: source.count) { target in
                WebSocketMask.apply(key: key, from: source, to: target, startingAt: 0)
                return source.count
            }
        }
        return output
    }
}
