import CZlib
import NIOCore

/// RFC 7692 receiving side for the client: inflates a compressed message (tail re-appended,
/// §7.2.2), bounded in size. The `z_stream` is heap-allocated because zlib keeps its address.
final class MessageInflater {
    private static let tail: [UInt8] = [0x00, 0x00, 0xFF, 0xFF]
    private let stream: UnsafeMutablePointer<z_stream>
    private let resetsPerMessage: Bool
    private var scratch: ByteBuffer

    init?(resetsPerMessage: Bool) {
        self.resetsPerMessage = resetsPerMessage
        scratch = ByteBufferAllocator().buffer(capacity: 4096)
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

    /// The inflated message, or nil when the data is corrupt or larger than `limit`.
    func inflate(_ message: ByteBuffer, limit: Int) -> ByteBuffer? {
        scratch.clear()
        let ok =
            message.withUnsafeReadableBytes { run($0, limit: limit) }
            && Self.tail.withUnsafeBytes { run($0, limit: limit) }
        if resetsPerMessage { inflateReset(stream) }
        return ok ? scratch : nil
    }

    private func run(_ input: UnsafeRawBufferPointer, limit: Int) -> Bool {
        guard let base = input.baseAddress, input.count > 0 else { return true }
        stream.pointee.next_in = UnsafeMutablePointer(mutating: base.assumingMemoryBound(to: Bytef.self))
        stream.pointee.avail_in = uInt(input.count)
        defer {
            stream.pointee.next_in = nil
            stream.pointee.avail_in = 0
        }
        while true {
            let chunk = max(4096, input.count * 4)
            var status: Int32 = Z_OK
            let produced = scratch.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { target in
                guard let out = target.baseAddress else { return 0 }
                stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
                stream.pointee.avail_out = uInt(target.count)
                status = CZlib.inflate(stream, Z_SYNC_FLUSH)
                return target.count - Int(stream.pointee.avail_out)
            }
            stream.pointee.next_out = nil
            if scratch.readableBytes > limit { return false }
            switch status {
            case Z_OK: break
            case Z_STREAM_END: inflateReset(stream)
            case Z_BUF_ERROR: return true
            default: return false
            }
            if stream.pointee.avail_in == 0 && stream.pointee.avail_out > 0 { return true }
            _ = produced
        }
    }
}
