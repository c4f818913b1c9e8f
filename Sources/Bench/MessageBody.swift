import NIOCore

/// The benchmark message body: `~#` marker, publisher id, per-(publisher, topic) sequence number
/// and send timestamp as fixed-width decimals, padded with `x` to the requested size.
///
/// `~#PPPPP.SSSSSSSSSS.TTTTTTTTTTTTTTTTT.xxxx…` — printable ASCII, nothing a STOMP header, JSON
/// string or SSE line needs to escape, and fixed offsets so a receiver decodes it without
/// searching past the marker.
package enum MessageBody {
    package static let marker0: UInt8 = UInt8(ascii: "~")
    package static let marker1: UInt8 = UInt8(ascii: "#")
    static let publisherDigits = 5
    static let sequenceDigits = 10
    static let timestampDigits = 17
    /// Offsets from the marker's first byte.
    static let publisherOffset = 2
    static let sequenceOffset = publisherOffset + publisherDigits + 1
    static let timestampOffset = sequenceOffset + sequenceDigits + 1
    /// The smallest body: marker, three fields and their separators.
    package static let minimumSize = timestampOffset + timestampDigits + 1

    /// A decoded body.
    package struct Fields: Equatable, Sendable {
        package var publisher: Int
        package var sequence: UInt64
        package var timestamp: UInt64
    }

    /// Appends one body of `max(size, minimumSize)` bytes.
    package static func write(
        publisher: Int,
        sequence: UInt64,
        timestamp: UInt64,
        size: Int,
        into buffer: inout ByteBuffer
    ) {
        let total = Swift.max(size, minimumSize)
        _ = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: total) { raw in
            raw[0] = marker0
            raw[1] = marker1
            writeDigits(UInt64(publisher), count: publisherDigits, at: publisherOffset, into: raw)
            raw[publisherOffset + publisherDigits] = UInt8(ascii: ".")
            writeDigits(sequence, count: sequenceDigits, at: sequenceOffset, into: raw)
            raw[sequenceOffset + sequenceDigits] = UInt8(ascii: ".")
            writeDigits(timestamp, count: timestampDigits, at: timestampOffset, into: raw)
            raw[timestampOffset + timestampDigits] = UInt8(ascii: ".")
            var index = minimumSize
            while index < total {
                raw[index] = UInt8(ascii: "x")
                index += 1
            }
            return total
        }
    }

    @inline(__always)
    private static func writeDigits(_ value: UInt64, count: Int, at offset: Int, into raw: UnsafeMutableRawBufferPointer) {
        var value = value
        var index = offset + count - 1
        while index >= offset {
            raw[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
            value /= 10
            index -= 1
        }
    }

    /// Decodes the body whose marker starts at `start`; nil when the bytes are not a body.
    @inline(__always)
    package static func decode(_ raw: UnsafeRawBufferPointer, at start: Int) -> Fields? {
        guard start + minimumSize <= raw.count else { return nil }
        guard let publisher = readDigits(raw, at: start + publisherOffset, count: publisherDigits),
            let sequence = readDigits(raw, at: start + sequenceOffset, count: sequenceDigits),
            let timestamp = readDigits(raw, at: start + timestampOffset, count: timestampDigits)
        else { return nil }
        return Fields(publisher: Int(publisher), sequence: sequence, timestamp: timestamp)
    }

    @inline(__always)
    private static func readDigits(_ raw: UnsafeRawBufferPointer, at offset: Int, count: Int) -> UInt64? {
        var value: UInt64 = 0
        for index in offset..<(offset + count) {
            let digit = raw[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value &* 10 &+ UInt64(digit)
        }
        return value
    }

    /// Finds the next marker at or after `from`, before `end`.
    @inline(__always)
    package static func findMarker(_ raw: UnsafeRawBufferPointer, from: Int, end: Int) -> Int? {
        var index = from
        while index + 1 < end {
            if raw[index] == marker0 && raw[index + 1] == marker1 { return index }
            index += 1
        }
        return nil
    }
}
