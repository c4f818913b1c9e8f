import Foundation
import NIOCore

/// A raw HTTP/1.1 response head found by index in the first bytes of a connection (used for the
/// WebSocket upgrade, where NIOHTTP1's decoder would have to be removed again).
struct RawResponseHead {
    var status: Int
    /// The head's bytes, for the few header checks the client makes.
    var bytes: ByteBuffer
    /// Offset of the first byte after the blank line.
    var length: Int

    private static let terminator = Array("\r\n\r\n".utf8)

    /// Parses the head at the start of `buffer`; nil while it is incomplete.
    static func parse(_ buffer: ByteBuffer) -> RawResponseHead? {
        buffer.withUnsafeReadableBytes { raw in
            guard let end = ByteScanning.index(of: terminator, in: raw, from: 0, end: raw.count) else { return nil }
            // "HTTP/1.1 101 ..."
            var status = 0
            if let space = ByteScanning.index(of: UInt8(ascii: " "), in: raw, from: 0, end: end) {
                status = ByteScanning.decimal(in: raw, from: space + 1, end: end) ?? 0
            }
            return RawResponseHead(status: status, bytes: buffer.getSlice(at: buffer.readerIndex, length: end) ?? buffer, length: end + 4)
        }
    }

    /// The value of header `name` (given lower-case), matched case-insensitively, lower-cased.
    func header(_ name: String) -> String? {
        let text = String(buffer: bytes).lowercased()
        for line in text.split(separator: "\r\n") where line.hasPrefix(name + ":") {
            return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }
}
