import CZlib
import NIOCore

/// The receiving half of RFC 7692 permessage-deflate: raw-DEFLATE decompression of message
/// payloads, bounded by the message size limit.
///
/// The `z_stream` lives on the heap because zlib keeps a pointer to it in its internal state and
/// rejects calls on a moved stream; it is reused across messages (reset per message when
/// `client_no_context_takeover` is in force).
package final class PerMessageInflater {
    /// RFC 7692 §7.2.2: the sender strips this empty stored block's tail; the receiver re-appends it.
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]

    private let stream: UnsafeMutablePointer<z_stream>

    /// Creates an inflater. It always uses the largest window: a larger window than the sender's
    /// is always safe, and it absorbs zlib's inability to compress with an 8-bit window.
    package init?() {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        guard perigee_inflateInit2(stream, -15) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Forgets the sliding window, for a peer that does not take over context between messages.
    package func reset() {
        inflateReset(stream)
    }

    /// Inflates one frame's compressed bytes, appending to `output`.
    ///
    /// Never lets `output` grow past `limit` readable bytes: zlib is asked for at most one byte
    /// more than the room left, so a decompression bomb is detected after producing `limit + 1`
    /// bytes, not after exhausting memory.
    package func inflate(_ input: ByteBuffer, into output: inout ByteBuffer, limit: Int) throws(WebSocketError) {
        let result: Result<Void, WebSocketError> = input.withUnsafeReadableBytes { bytes in
            self.run(bytes, into: &output, limit: limit)
        }
        try result.get()
    }

    /// Feeds the stripped tail that ends a message (RFC 7692 §7.2.2).
    package func finishMessage(into output: inout ByteBuffer, limit: Int) throws(WebSocketError) {
        let result: Result<Void, WebSocketError> = Self.tail.withUnsafeBytes { bytes in
            self.run(bytes, into: &output, limit: limit)
        }
        try result.get()
    }

    private func run(_ input: UnsafeRawBufferPointer, into output: inout ByteBuffer, limit: Int) -> Result<Void, WebSocketError> {
        guard let base = input.baseAddress, input.count > 0 else { return .success(()) }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        while true {
            let room = limit - output.readableBytes
            let chunk = min(max(room, 0) + 1, 64 * 1024)
            var status: Int32 = Z_OK
            let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { target in
                guard let out = target.baseAddress else { return 0 }
                stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(chunk)
                status = CZlib.inflate(stream, Z_SYNC_FLUSH)
                return chunk - Int(stream.pointee.avail_out)
            }
            stream.pointee.next_out = nil
            if output.readableBytes > limit { return .failure(.messageTooLarge(limit: limit)) }
            switch status {
            case Z_OK:
                break
            case Z_STREAM_END:
                // A block with BFINAL set ends the DEFLATE stream; what follows starts a new one.
                inflateReset(stream)
            case Z_BUF_ERROR where produced == 0:
                return .success(())  // no progress possible: all input consumed
            case Z_BUF_ERROR:
                break
            default:
                return .failure(.invalidCompressedData)
            }
            if stream.pointee.avail_in == 0 && produced < chunk { return .success(()) }
        }
    }
}
