import NIOCore

/// Writes RFC 6455 §5.2 frame headers.
///
/// Only the header is produced here: the payload stays in its own `ByteBuffer`, so one payload
/// can be written to many connections (each with its own few header bytes) without copying it.
public enum WebSocketFrameEncoder {
    /// The largest header: 2 bytes, an 8-byte extended length and a 4-byte mask.
    public static let maxHeaderSize = 14

    /// Appends a frame header for a payload of `length` bytes.
    ///
    /// With a `maskKey` (client role) the caller must mask the payload with the same key.
    public static func writeHeader(
        fin: Bool = true,
        rsv1: Bool = false,
        opcode: WebSocketOpcode,
        length: Int,
        maskKey: UInt32? = nil,
        into buffer: inout ByteBuffer
    ) {
        var first = opcode.rawValue
        if fin { first |= 0x80 }
        if rsv1 { first |= 0x40 }
        let maskBit: UInt8 = maskKey == nil ? 0 : 0x80
        buffer.writeInteger(first)
        switch length {
        case 0...125:
            buffer.writeInteger(UInt8(length) | maskBit)
        case 126...0xFFFF:
            buffer.writeInteger(126 | maskBit)
            buffer.writeInteger(UInt16(length))
        default:
            buffer.writeInteger(127 | maskBit)
            buffer.writeInteger(UInt64(length))
        }
        if let maskKey { buffer.writeInteger(maskKey) }
    }

    /// Encodes a whole frame into one buffer, masking it when `maskKey` is given.
    /// Convenient for control frames and tests; fan-out uses `writeHeader` and shares payloads.
    public static func encode(
        _ frame: WebSocketFrame,
        maskKey: UInt32? = nil,
        allocator: ByteBufferAllocator = .init()
    ) -> ByteBuffer {
        let length = frame.payload.readableBytes
        var buffer = allocator.buffer(capacity: maxHeaderSize + length)
        var first = frame.opcode.rawValue
        if frame.fin { first |= 0x80 }
        if frame.rsv1 { first |= 0x40 }
        if frame.rsv2 { first |= 0x20 }
        if frame.rsv3 { first |= 0x10 }
        writeHeader(fin: frame.fin, rsv1: frame.rsv1, opcode: frame.opcode, length: length, maskKey: maskKey, into: &buffer)
        // writeHeader only knows RSV1; patch the first byte for the rarely used RSV2/RSV3.
        buffer.setInteger(first, at: buffer.writerIndex - headerSize(length: length, masked: maskKey != nil))
        if let maskKey {
            frame.payload.withUnsafeReadableBytes { source in
                _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { target in
                    WebSocketMask.apply(key: maskKey, from: source, to: target, startingAt: 0)
                    return length
                }
            }
        } else {
            var payload = frame.payload
            buffer.writeBuffer(&payload)
        }
        return buffer
    }

    /// The size of the header for a payload of `length` bytes.
    public static func headerSize(length: Int, masked: Bool) -> Int {
        let lengthBytes: Int
        switch length {
        case 0...125: lengthBytes = 0
        case 126...0xFFFF: lengthBytes = 2
        default: lengthBytes = 8
        }
        return 2 + lengthBytes + (masked ? 4 : 0)
    }
}
