import NIOCore

/// Whether a body is UTF-8, to choose between WebSocket text and binary messages. Only bodies
/// need checking: every header was a Swift string, hence UTF-8, when it was encoded.
struct UTF8Checker {
    func isValid(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) != nil }
    }
}
