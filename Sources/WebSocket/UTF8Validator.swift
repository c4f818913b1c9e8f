/// An incremental UTF-8 validator (RFC 3629 §4) that can be fed a message in pieces.
///
/// RFC 6455 §8.1 lets an endpoint fail a connection as soon as the bytes received so far cannot
/// begin a valid UTF-8 sequence; feeding each frame as it arrives makes the engine fail fast
/// mid-message instead of after buffering the whole message. Overlong forms, surrogates
/// (U+D800–U+DFFF) and code points above U+10FFFF are rejected by narrowing the range allowed
/// for the first continuation byte.
public struct UTF8Validator: Sendable, Equatable {
    /// Continuation bytes still expected for the current scalar.
    private var pending: UInt8 = 0
    /// Inclusive range allowed for the next continuation byte.
    private var lower: UInt8 = 0x80
    private var upper: UInt8 = 0xBF

    public init() {}

    /// Whether the bytes seen so far end on a scalar boundary; a message is valid only if so.
    public var isAtBoundary: Bool { pending == 0 }

    /// Feeds more bytes. Returns `false` as soon as they cannot be part of valid UTF-8; the
    /// validator must not be used after that.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var index = 0
        let count = bytes.count
        while index < count {
            if pending == 0 {
                // ASCII dominates real traffic: skip eight bytes at a time while no high bit is set.
                while index + 8 <= count {
                    let word = bytes.loadUnaligned(fromByteOffset: index, as: UInt64.self)
                    if word & 0x8080_8080_8080_8080 != 0 { break }
                    index += 8
                }
                guard index < count else { return true }
                let byte = bytes[index]
                index += 1
                switch byte {
                case 0x00...0x7F:
                    continue
                case 0xC2...0xDF:
                    expect(1, 0x80, 0xBF)
                case 0xE0:
                    expect(2, 0xA0, 0xBF)  // no overlong 3-byte forms
                case 0xE1...0xEC, 0xEE...0xEF:
                    expect(2, 0x80, 0xBF)
                case 0xED:
                    expect(2, 0x80, 0x9F)  // no surrogates
                case 0xF0:
                    expect(3, 0x90, 0xBF)  // no overlong 4-byte forms
                case 0xF1...0xF3:
                    expect(3, 0x80, 0xBF)
                case 0xF4:
                    expect(3, 0x80, 0x8F)  // nothing above U+10FFFF
                default:
                    return false  // 0x80–0xC1 as lead bytes, 0xF5–0xFF never
                }
            } else {
                let byte = bytes[index]
                index += 1
                guard byte >= lower, byte <= upper else { return false }
                expect(pending - 1, 0x80, 0xBF)
            }
        }
        return true
    }

    /// Convenience for byte arrays and other contiguous collections.
    public mutating func feed<Bytes: Collection>(_ bytes: Bytes) -> Bool where Bytes.Element == UInt8 {
        let result = bytes.withContiguousStorageIfAvailable { self.feed(UnsafeRawBufferPointer($0)) }
        if let result { return result }
        return Array(bytes).withUnsafeBytes { self.feed($0) }
    }

    private mutating func expect(_ count: UInt8, _ low: UInt8, _ high: UInt8) {
        pending = count
        lower = low
        upper = high
    }
}
