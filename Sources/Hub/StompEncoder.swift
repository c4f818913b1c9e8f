import NIOCore

/// Writes STOMP frames (STOMP 1.2 "Augmented BNF"), escaping header values as `version`
/// requires and adding `content-length` to every frame with a body, so bodies may hold NUL.
public enum StompEncoder {
    public static func encode(_ frame: StompFrame, version: StompVersion, into buffer: inout ByteBuffer) {
        buffer.writeString(frame.command.rawValue)
        buffer.writeInteger(UInt8(ascii: "\n"))
        let escaping = frame.command.escapesHeaders ? version : nil
        var hasLength = false
        for (name, value) in frame.headers {
            if name == "content-length" { hasLength = true }
            writeEscaped(name, version: escaping, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            writeEscaped(value, version: escaping, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "\n"))
        }
        if !hasLength && frame.body.readableBytes > 0 {
            buffer.writeString("content-length:\(frame.body.readableBytes)\n")
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
        var body = frame.body
        buffer.writeBuffer(&body)
        buffer.writeInteger(UInt8(0))
    }

    public static func encode(_ frame: StompFrame, version: StompVersion, allocator: ByteBufferAllocator = .init()) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: 128 + frame.body.readableBytes)
        encode(frame, version: version, into: &buffer)
        return buffer
    }

    private static func writeEscaped(_ text: String, version: StompVersion?, into buffer: inout ByteBuffer) {
        guard let version, version.escapesHeaders,
            text.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\n") || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: "\r") || $0 == 0 })
        else {
            if version == nil || version == .v1_0 {
                // Unescapable: a raw CR, LF or NUL would end the header (or the frame); drop them
                // rather than corrupt the frame. Bytes, not Characters: "\r\n" is one Character.
                for byte in text.utf8 where byte != UInt8(ascii: "\n") && byte != UInt8(ascii: "\r") && byte != 0 {
                    buffer.writeInteger(byte)
                }
            } else {
                buffer.writeString(text)
            }
            return
        }
        for byte in text.utf8 {
            switch byte {
            case 0: break  // no escape exists for NUL, which ends a frame for clients that split at it
            case UInt8(ascii: "\\"): buffer.writeStaticString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeStaticString("\\n")
            case UInt8(ascii: ":"): buffer.writeStaticString("\\c")
            case UInt8(ascii: "\r") where version.escapesCarriageReturn: buffer.writeStaticString("\\r")
            case UInt8(ascii: "\r"): break  // 1.1 cannot express CR in a header
            default: buffer.writeInteger(byte)
            }
        }
    }
}
