import NIOCore

/// Whether bytes are UTF-8, to choose between WebSocket text and binary messages; done once
/// per encoded frame, which fan-out shares.
struct UTF8Checker {
    func isValid(_ buffer: ByteBuffer) -> Bool {
        buffer.withUnsafeReadableBytes { String(validating: $0, as: UTF8.self) != nil }
    }
}
