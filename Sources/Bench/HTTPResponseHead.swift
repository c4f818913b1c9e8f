import NIOCore

/// A raw HTTP/1.1 response head found by index in the first bytes of a connection (used for the
/// WebSocket upgrade, where NIOHTTP1's decoder would have to be removed again).
struct HTTPResponseHead {
    var status: Int
    /// Lower-cased header lines, for the few checks the client makes.
    var headerText: String
    /// Offset of the first byte after the blank line.
    var length: Int

    private static let terminator = Array("\r\n\r\n".utf8)

    /// Parses the head at the start of `buffer`; nil while it is incomplete.
    static func parse(_ buffer: ByteBuffer) -> HTTPResponseHead? {
        buffer.withUnsafeReadableBytes { raw in
            guard let end = ByteScanning.index(of: terminator, in: raw, from: 0, end: raw.count) else { return nil }
            // "HTTP/1.1 101 ..."
            var status = 0
            if let space = ByteScanning.index(of: UInt8(ascii: " "), in: raw, from: 0, end: end) {
                status = ByteScanning.decimal(in: raw, from: space + 1, end: end) ?? 0
            }
            let text = String(decoding: raw[0..<end], as: UTF8.self).lowercased()
            return HTTPResponseHead(status: status, headerText: text, length: end + 4)
        }
    }
}
