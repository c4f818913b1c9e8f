import NIOCore

extension ByteBuffer {
    /// Drops consumed bytes once they dominate the buffer, so that a parser's cumulation buffer
    /// holds what is still unread rather than everything the connection ever received. Moving
    /// the unread rest only when the consumed part is larger (and past 64 KiB) keeps the cost
    /// amortised O(1) per byte.
    mutating func discardConsumedBytes() {
        if readableBytes == 0 {
            // Fully consumed: let the storage go (usually a whole read buffer, kilobytes) rather
            // than keep it for a connection that may stay idle for hours. The next read is
            // adopted without a copy anyway.
            self = ByteBuffer()
        } else if readerIndex > 64 * 1024 && readerIndex > readableBytes {
            discardReadBytes()
        }
    }
}
