import NIOCore

/// Limits that protect the server from oversized or abusive frames.
public struct StompLimits: Sendable, Hashable {
    /// The largest frame (command, headers and body) accepted.
    public var maxFrameSize: Int = 1 << 20
    /// The most header lines in one frame.
    public var maxHeaders: Int = 64
    /// The longest command or header line, in bytes.
    public var maxHeaderLength: Int = 8 * 1024

    public init() {}
}

/// An incremental STOMP frame parser (STOMP 1.2 "Augmented BNF").
///
/// Accepts LF or CRLF line ends, bodies delimited by `content-length` (which may contain NUL)
/// or by the first NUL, and EOLs between frames, which it reports as heart-beats. Header
/// values are unescaped according to the negotiated `version`; CONNECT frames never are.
public struct StompParser {
    public enum ParseResult: Equatable, Sendable {
        case needMoreData
        /// An EOL between frames: a heart-beat from the peer.
        case heartbeat
        case frame(StompFrame)
    }

    private enum State {
        case idle
        case body(command: StompCommand, headers: StompHeaders, contentLength: Int?, headerSize: Int, scanned: Int)
    }

    /// The version whose escaping rules apply; nil until CONNECT is answered (then only
    /// CONNECT/STOMP frames can be valid, and those are not escaped anyway).
    public var version: StompVersion?
    public let limits: StompLimits
    private var state: State = .idle
    private var buffer = ByteBuffer()
    /// How far the current head has been scanned (offsets from the reader index), so that a
    /// head arriving in pieces is scanned once, not once per piece.
    private var headScan = HeadScan()

    private struct HeadScan {
        var scanned = 0
        var lineStart = 0
        var lines: [Range<Int>] = []
    }

    public init(limits: StompLimits = .init(), version: StompVersion? = nil) {
        self.limits = limits
        self.version = version
    }

    /// The buffer's capacity, consumed bytes included: what the parser holds in memory.
    var bufferCapacity: Int { buffer.capacity }
    /// Bytes appended and not yet parsed.
    var bufferedBytes: Int { buffer.readableBytes }

    public mutating func append(_ bytes: ByteBuffer) {
        if buffer.readableBytes == 0 {
            buffer = bytes
        } else {
            var bytes = bytes
            buffer.writeBuffer(&bytes)
        }
    }

    /// Appends text (a WebSocket text message or a SockJS string).
    public mutating func append(_ text: String) {
        buffer.writeString(text)
    }

    public mutating func parseStep() throws(StompError) -> ParseResult {
        switch state {
        case .idle:
            return try parseHead()
        case .body(let command, let headers, let contentLength, let headerSize, let scanned):
            return try parseBody(command: command, headers: headers, contentLength: contentLength, headerSize: headerSize, scanned: scanned)
        }
    }

    private mutating func parseHead() throws(StompError) -> ParseResult {
        guard let first = buffer.getInteger(at: buffer.readerIndex, as: UInt8.self) else {
            buffer = ByteBuffer()
            return .needMoreData
        }
        if first == UInt8(ascii: "\n") {
            buffer.moveReaderIndex(forwardBy: 1)
            return .heartbeat
        }
        if first == UInt8(ascii: "\r") {
            guard let second = buffer.getInteger(at: buffer.readerIndex + 1, as: UInt8.self) else { return .needMoreData }
            guard second == UInt8(ascii: "\n") else { throw .malformedFrame("carriage return without line feed") }
            buffer.moveReaderIndex(forwardBy: 2)
            return .heartbeat
        }

        let view = buffer.readableBytesView
        let base = view.startIndex
        var scan = headScan
        var headerEnd: Int?
        var index = base + scan.scanned
        while index < view.endIndex {
            if view[index] == UInt8(ascii: "\n") {
                var lineEnd = index
                if lineEnd > base + scan.lineStart && view[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                if lineEnd - (base + scan.lineStart) > limits.maxHeaderLength { throw .headerTooLong(limit: limits.maxHeaderLength) }
                if lineEnd == base + scan.lineStart && !scan.lines.isEmpty {
                    headerEnd = index + 1
                    break
                }
                scan.lines.append(scan.lineStart..<(lineEnd - base))
                if scan.lines.count > limits.maxHeaders + 1 { throw .tooManyHeaders(limit: limits.maxHeaders) }
                scan.lineStart = index + 1 - base
            }
            index += 1
        }
        guard let headerEnd else {
            if index - (base + scan.lineStart) > limits.maxHeaderLength { throw .headerTooLong(limit: limits.maxHeaderLength) }
            if view.count > limits.maxFrameSize { throw .frameTooLarge(limit: limits.maxFrameSize) }
            scan.scanned = index - base
            headScan = scan
            return .needMoreData
        }
        headScan = HeadScan()
        let lines = scan.lines.map { view[(base + $0.lowerBound)..<(base + $0.upperBound)] }

        guard let commandLine = lines.first else { throw .malformedFrame("missing command") }
        let commandText = String(decoding: commandLine, as: UTF8.self)
        guard let command = StompCommand(rawValue: commandText) else { throw .unknownCommand(commandText) }
        let unescape = command.escapesHeaders ? version : nil
        var headers = StompHeaders()
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else {
                throw .malformedFrame("header line without a colon")
            }
            var name = try Self.decode(line[line.startIndex..<colon], version: unescape)
            var value = try Self.decode(line[(colon + 1)..<line.endIndex], version: unescape)
            if version == nil || version == .v1_0 {
                // STOMP 1.0 peers commonly pad around the colon; 1.1+ makes spaces significant.
                name = name.trimmingSpaces
                value = value.trimmingSpaces
            }
            headers.add(name, value)
        }

        var contentLength: Int?
        if let text = headers["content-length"] {
            // Decimal digits only: no sign, no spaces inside (a lenient reader elsewhere must not
            // see a different length than we do).
            let digits = text.trimmingSpaces
            guard !digits.isEmpty, digits.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), let length = Int(digits) else {
                throw .invalidHeader("content-length", value: text)
            }
            contentLength = length
        }
        let headerSize = headerEnd - view.startIndex
        // Compared without adding to the client's number, which may be as large as Int.max
        // (issue 7, fault 1).
        if let contentLength, contentLength > limits.maxFrameSize - headerSize - 1 {
            throw .frameTooLarge(limit: limits.maxFrameSize)
        }
        buffer.moveReaderIndex(forwardBy: headerSize)
        state = .body(command: command, headers: headers, contentLength: contentLength, headerSize: headerSize, scanned: 0)
        return try parseBody(command: command, headers: headers, contentLength: contentLength, headerSize: headerSize, scanned: 0)
    }

    private mutating func parseBody(
        command: StompCommand,
        headers: StompHeaders,
        contentLength: Int?,
        headerSize: Int,
        scanned: Int
    ) throws(StompError) -> ParseResult {
        let bodyLength: Int
        if let contentLength {
            guard buffer.readableBytes > contentLength else { return .needMoreData }
            guard buffer.getInteger(at: buffer.readerIndex + contentLength, as: UInt8.self) == 0 else {
                throw .malformedFrame("no NUL after content-length bytes of body")
            }
            bodyLength = contentLength
        } else {
            let view = buffer.readableBytesView
            guard let nul = view[(view.startIndex + scanned)...].firstIndex(of: 0) else {
                if headerSize + view.count > limits.maxFrameSize { throw .frameTooLarge(limit: limits.maxFrameSize) }
                state = .body(command: command, headers: headers, contentLength: nil, headerSize: headerSize, scanned: view.count)
                return .needMoreData
            }
            bodyLength = nul - view.startIndex
            if headerSize + bodyLength + 1 > limits.maxFrameSize { throw .frameTooLarge(limit: limits.maxFrameSize) }
        }
        let body = buffer.readSlice(length: bodyLength) ?? ByteBuffer()
        buffer.moveReaderIndex(forwardBy: 1)  // the NUL
        state = .idle
        if buffer.readableBytes == 0 {
            // Let the storage (often a whole read buffer) go: an idle connection holds none.
            buffer = ByteBuffer()
        } else if buffer.readerIndex > 64 * 1024 && buffer.readerIndex > buffer.readableBytes {
            // Only when the consumed part dominates: moving the unread rest stays amortised O(1).
            buffer.discardReadBytes()
        }
        return .frame(StompFrame(command, headers: headers, body: body))
    }

    /// UTF-8 text of a header name or value, unescaped per `version` (nil: no escaping).
    private static func decode(_ bytes: ByteBufferView, version: StompVersion?) throws(StompError) -> String {
        guard let version, version.escapesHeaders, bytes.contains(UInt8(ascii: "\\")) else {
            guard let text = String(validating: bytes, as: UTF8.self) else { throw .malformedFrame("header is not UTF-8") }
            return text
        }
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            index += 1
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                continue
            }
            guard index < bytes.endIndex else { throw .badEscape("\\ at the end of a header") }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "n"): output.append(UInt8(ascii: "\n"))
            case UInt8(ascii: "c"): output.append(UInt8(ascii: ":"))
            case UInt8(ascii: "\\"): output.append(UInt8(ascii: "\\"))
            case UInt8(ascii: "r") where version.escapesCarriageReturn: output.append(UInt8(ascii: "\r"))
            default:
                throw .badEscape("\\" + String(decoding: [escaped], as: UTF8.self))
            }
        }
        guard let text = String(validating: output, as: UTF8.self) else { throw .malformedFrame("header is not UTF-8") }
        return text
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
