/// A fuzzer's input read as a few leading control bytes (options, limits, a split seed) and
/// then a payload, so that seed files are the payload behind a short, readable prefix.
///
/// Past its end it reads as zeros: every input, however short, is a valid case.
public struct FuzzInput {
    public let bytes: [UInt8]
    private var position = 0

    public init(_ data: UnsafePointer<UInt8>?, _ size: Int) {
        bytes = Array(UnsafeBufferPointer(start: data, count: data == nil ? 0 : size))
    }

    /// The next control byte, or 0 once the input is exhausted.
    public mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    /// Bytes up to (not including) the next `separator`, which is consumed; the rest of the
    /// input when there is none.
    public mutating func bytes(upTo separator: UInt8) -> ArraySlice<UInt8> {
        let rest = bytes[position...]
        let end = rest.firstIndex(of: separator) ?? rest.endIndex
        position = min(end + 1, bytes.count)
        return rest[..<end]
    }

    /// Everything not read yet.
    public mutating func rest() -> ArraySlice<UInt8> {
        defer { position = bytes.count }
        return bytes[position...]
    }
}

/// Cuts a byte stream the way TCP might deliver it: `seed` 0 keeps it whole; any other seed
/// picks a largest chunk size (1, 2, 3, 7, 16, 64, 512 or 4096 bytes) and draws each chunk's
/// size from a generator it seeds, so one byte of input decides every split point and the same
/// input always splits the same way.
public func chunks(of stream: ArraySlice<UInt8>, seed: UInt8) -> [ArraySlice<UInt8>] {
    guard seed != 0 else { return [stream] }
    let largest = [1, 2, 3, 7, 16, 64, 512, 4096][Int(seed & 7)]
    var state = UInt32(seed) &* 0x9E37_79B9 | 1
    var result: [ArraySlice<UInt8>] = []
    var start = stream.startIndex
    while start < stream.endIndex {
        // xorshift32: cheap, deterministic, good enough to vary the cuts.
        state ^= state << 13
        state ^= state >> 17
        state ^= state << 5
        let size = 1 + Int(state % UInt32(largest))
        let end = min(start + size, stream.endIndex)
        result.append(stream[start..<end])
        start = end
    }
    return result
}
