import NIOCore

/// What a client needs to know about an inbound STOMP frame.
enum StompInboundKind: Equatable {
    case connected, message, receipt, error, other
}

/// Splits a STOMP byte stream into frames at their NUL terminators.
///
/// Bodies in this benchmark never contain NUL, so the terminator alone delimits a frame. The
/// reader remembers how far it has scanned, so a frame arriving in many reads is scanned once.
struct StompStreamReader {
    private var buffer: ByteBuffer?
    private var scanned = 0
    /// A bound on an unterminated frame: a peer sending garbage cannot grow the buffer forever.
    let maxFrameBytes: Int

    init(maxFrameBytes: Int = 4 << 20) {
        self.maxFrameBytes = maxFrameBytes
    }

    var isOverLimit: Bool { (buffer?.readableBytes ?? 0) > maxFrameBytes }

    mutating func append(_ bytes: ByteBuffer) {
        if var existing = buffer, existing.readableBytes > 0 {
            buffer = nil  // keep the storage uniquely referenced while appending
            var bytes = bytes
            existing.writeBuffer(&bytes)
            buffer = existing
        } else {
            buffer = bytes
            scanned = 0
        }
    }

    mutating func append(bytes: UnsafeRawBufferPointer) {
        if var existing = buffer, existing.readableBytes > 0 {
            buffer = nil
            existing.writeBytes(bytes)
            buffer = existing
        } else {
            var fresh = ByteBufferAllocator().buffer(capacity: max(bytes.count, 256))
            fresh.writeBytes(bytes)
            buffer = fresh
            scanned = 0
        }
    }

    /// The next complete frame (heart-beat newlines skipped), as a slice without its NUL.
    mutating func next() -> ByteBuffer? {
        guard var current = buffer else { return nil }
        let found: (skip: Int, nul: Int?) = current.withUnsafeReadableBytes { raw in
            var start = 0
            while start < raw.count && (raw[start] == 0x0A || raw[start] == 0x0D) { start += 1 }
            let nul = ByteScanning.index(of: 0, in: raw, from: max(start, scanned), end: raw.count)
            return (start, nul)
        }
        guard let nul = found.nul else {
            current.moveReaderIndex(forwardBy: found.skip)
            scanned = current.readableBytes
            if current.readableBytes == 0 {
                buffer = nil
            } else {
                buffer = current
            }
            return nil
        }
        current.moveReaderIndex(forwardBy: found.skip)
        let frame = current.readSlice(length: nul - found.skip)
        current.moveReaderIndex(forwardBy: 1)
        scanned = 0
        buffer = current.readableBytes == 0 ? nil : current
        return frame
    }

    /// The kind of frame, from its command line.
    static func kind(of frame: ByteBuffer) -> StompInboundKind {
        guard let first = frame.getInteger(at: frame.readerIndex, as: UInt8.self) else { return .other }
        switch first {
        case UInt8(ascii: "M"): return .message
        case UInt8(ascii: "R"): return .receipt
        case UInt8(ascii: "C"): return .connected
        case UInt8(ascii: "E"): return .error
        default: return .other
        }
    }

    private static let receiptHeader = Array("\nreceipt-id:".utf8)
    private static let messageHeader = Array("\nmessage:".utf8)

    /// The number in a `receipt-id:r<number>` header.
    static func receiptNumber(of frame: ByteBuffer) -> Int? {
        frame.withUnsafeReadableBytes { raw in
            guard let at = ByteScanning.index(of: receiptHeader, in: raw, from: 0, end: raw.count) else { return nil }
            let value = at + receiptHeader.count
            guard value < raw.count, raw[value] == UInt8(ascii: "r") else { return nil }
            return ByteScanning.decimal(in: raw, from: value + 1, end: raw.count)
        }
    }

    /// The `message` header of an ERROR frame, or its first line.
    static func errorText(of frame: ByteBuffer) -> String {
        frame.withUnsafeReadableBytes { raw in
            if let at = ByteScanning.index(of: messageHeader, in: raw, from: 0, end: raw.count) {
                return "ERROR " + ByteScanning.line(in: raw, from: at + messageHeader.count, end: raw.count)
            }
            return ByteScanning.line(in: raw, from: 0, end: raw.count)
        }
    }
}
