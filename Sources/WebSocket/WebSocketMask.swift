/// The XOR masking of RFC 6455 §5.3, eight bytes at a time.
public enum WebSocketMask {
    /// Writes `source` XOR the masking key into `target` (which must be at least as long).
    ///
    /// `key` is the four key bytes read as a big-endian integer, as they appear on the wire;
    /// `startingAt` is the offset of `source` within the payload, for masking in pieces.
    public static func apply(
        key: UInt32,
        from source: UnsafeRawBufferPointer,
        to target: UnsafeMutableRawBufferPointer,
        startingAt payloadOffset: Int
    ) {
        let count = source.count
        precondition(target.count >= count)
        // Key bytes in wire order, rotated so that keyBytes[0] applies to source[0].
        let keyBytes: [UInt8] = (0..<4).map { index in
            UInt8(truncatingIfNeeded: key >> (24 - 8 * ((index + payloadOffset) % 4)))
        }
        var word: UInt64 = 0
        for index in 0..<8 {
            word |= UInt64(keyBytes[index % 4]) << (8 * UInt64(index))
        }
        // `word` is laid out for a little-endian load; swap it on big-endian hosts.
        let key64 = UInt64(littleEndian: word)
        var index = 0
        while index + 8 <= count {
            let value = source.loadUnaligned(fromByteOffset: index, as: UInt64.self)
            target.storeBytes(of: value ^ key64, toByteOffset: index, as: UInt64.self)
            index += 8
        }
        while index < count {
            target[index] = source[index] ^ keyBytes[index % 4]
            index += 1
        }
    }
}
