import NIOCore
@testable import WebSocket

/// Builds client frames (masked) for tests.
enum TestFrames {
    static let key: UInt32 = 0x3712_A5F0

    static func buffer(_ bytes: [UInt8]) -> ByteBuffer {
        ByteBuffer(bytes: bytes)
    }

    static func masked(
        _ opcode: WebSocketOpcode,
        _ payload: [UInt8],
        fin: Bool = true,
        rsv1: Bool = false
    ) -> ByteBuffer {
        WebSocketFrameEncoder.encode(
            WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: buffer(payload)),
            maskKey: key
        )
    }

    static func frame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> WebSocketFrame {
        WebSocketFrame(fin: fin, rsv1: rsv1, opcode: opcode, payload: buffer(payload))
    }

    static func text(_ string: String, fin: Bool = true) -> WebSocketFrame {
        frame(.text, Array(string.utf8), fin: fin)
    }

    static func close(_ code: UInt16, _ reason: [UInt8] = []) -> WebSocketFrame {
        frame(.close, [UInt8(code >> 8), UInt8(code & 0xFF)] + reason)
    }
}
