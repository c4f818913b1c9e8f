import CZlib
import NIOCore

/// The sending half of RFC 7692 permessage-deflate: raw-DEFLATE compression of whole messages
/// ending in a sync flush whose 4-byte tail is stripped (§7.2.1).
///
/// Heap-allocated `z_stream` for the same reason as `PerMessageInflater`.
final class PerMessageDeflater {
    private let stream: UnsafeMutablePointer<z_stream>
    private let resetsAfterEachMessage: Bool

    /// - Parameters:
    ///   - windowBits: 8...15; zlib cannot compress with an 8-bit raw window, so 8 becomes 9,
    ///     which is still decodable with a 256-byte window because zlib never emits a distance
    ///     beyond its window minus 262 bytes.
    ///   - noContextTakeover: compress every message on its own (RFC 7692 §7.1.1.1).
    init?(windowBits: Int, noContextTakeover: Bool, level: Int32, memoryLevel: Int32) {
        stream = .allocate(capacity: 1)
        stream.initialize(to: z_stream())
        resetsAfterEachMessage = noContextTakeover
        let bits = Int32(min(max(windowBits, 9), 15))
        guard perigee_deflateInit2(stream, level, Z_DEFLATED, -bits, memoryLevel, Z_DEFAULT_STRATEGY) == Z_OK else {
            stream.deinitialize(count: 1)
            stream.deallocate()
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        stream.deinitialize(count: 1)
        stream.deallocate()
    }

    /// Compresses one message payload into a new buffer (without the 0x00 0x00 0xFF 0xFF tail).
    func compress(_ input: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var output = allocator.buffer(capacity: input.readableBytes / 2 + 64)
        input.withUnsafeReadableBytes { bytes in
            stream.pointee.next_in = bytes.baseAddress.map {
                UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: Bytef.self))
            }
            stream.pointee.avail_in = uInt(bytes.count)
            while true {
                let chunk = max(output.writableBytes, 1024)
                let produced = output.writeWithUnsafeMutableBytes(minimumWritableBytes: chunk) { target in
                    guard let out = target.baseAddress else { return 0 }
                    stream.pointee.next_out = out.assumingMemoryBound(to: Bytef.self)
                    stream.pointee.avail_out = uInt(chunk)
                    _ = CZlib.deflate(stream, Z_SYNC_FLUSH)
                    return chunk - Int(stream.pointee.avail_out)
                }
                // A sync flush is complete once zlib leaves output space unused.
                if stream.pointee.avail_in == 0 && produced < chunk { break }
            }
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        // Z_SYNC_FLUSH always ends with the empty stored block 00 00 FF FF; RFC 7692 drops it.
        if output.readableBytes >= 4 {
            output.moveWriterIndex(to: output.writerIndex - 4)
        }
        if resetsAfterEachMessage {
            deflateReset(stream)
        }
        return output
    }
}
