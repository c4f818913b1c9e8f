#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Index-based searches over raw bytes: receive paths never split or copy to find things.
enum ByteScanning {
    /// The index of the first `byte` in `raw[from..<end]`.
    @inline(__always)
    static func index(of byte: UInt8, in raw: UnsafeRawBufferPointer, from: Int, end: Int) -> Int? {
        guard from < end, let base = raw.baseAddress else { return nil }
        guard let found = memchr(base + from, Int32(byte), end - from) else { return nil }
        return base.distance(to: UnsafeRawPointer(found))
    }

    /// The index of the first occurrence of `needle` in `raw[from..<end]`.
    static func index(of needle: [UInt8], in raw: UnsafeRawBufferPointer, from: Int, end: Int) -> Int? {
        guard let first = needle.first else { return from }
        var start = from
        while let candidate = index(of: first, in: raw, from: start, end: end) {
            if candidate + needle.count > end { return nil }
            var matches = true
            for offset in 1..<needle.count where raw[candidate + offset] != needle[offset] {
                matches = false
                break
            }
            if matches { return candidate }
            start = candidate + 1
        }
        return nil
    }

    /// The unsigned decimal at `from`, stopping at the first non-digit.
    static func decimal(in raw: UnsafeRawBufferPointer, from: Int, end: Int) -> Int? {
        var value = 0
        var index = from
        while index < end {
            let digit = raw[index] &- UInt8(ascii: "0")
            guard digit < 10 else { break }
            value = value &* 10 &+ Int(digit)
            index += 1
        }
        return index > from ? value : nil
    }

    /// The text of the line starting at `from` (up to `\n`, `\r` excluded), for error reports.
    static func line(in raw: UnsafeRawBufferPointer, from: Int, end: Int, limit: Int = 200) -> String {
        let stop = min(index(of: UInt8(ascii: "\n"), in: raw, from: from, end: end) ?? end, from + limit)
        var bytes = Array(raw[from..<max(from, stop)])
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        return String(decoding: bytes, as: UTF8.self)
    }
}
