import NIOCore

/// A message ready to be sent to one or many connections.
///
/// Broadcast compression, once: RFC 7692 output depends only on the payload, the compression
/// settings and the compressor's history. A connection that negotiated
/// `server_no_context_takeover` has no history, so every such connection with the same window
/// would produce byte-identical compressed payloads. `WebSocketMessageCompressor.prepare` compresses
/// the payload once per window size and stores it here; `WebSocketHandler.send` uses the stored
/// bytes for every connection whose `PerMessageDeflateParameters.sharingWindowBits` matches and
/// compresses privately only for connections that keep context. The payload and the compressed
/// bytes are `ByteBuffer`s, so fan-out shares them by reference and adds only a frame header per
/// connection.
///
/// Framing, once: server frames are not masked (RFC 6455 §5.1), so a frame's bytes are the same
/// for every connection that sends the same payload the same way. `prepareFrame()` and
/// `WebSocketMessageCompressor.prepare` build whole frames (header and payload in one buffer),
/// and each connection writes a reference to them: a fan-out allocates nothing per delivery.
public struct WebSocketOutboundMessage: Sendable {
    public let message: WebSocketMessage
    /// Compressed frames (RFC 7692 §6: RSV1 set, header and payload) keyed by window bits,
    /// made without context takeover.
    public private(set) var compressed: [Int: ByteBuffer] = [:]
    /// The whole uncompressed frame, once `prepareFrame()` has made it.
    public private(set) var frame: ByteBuffer?

    public init(_ message: WebSocketMessage) {
        self.message = message
    }

    /// Builds the uncompressed frame once, for every connection that sends it uncompressed.
    public mutating func prepareFrame(allocator: ByteBufferAllocator = .init()) {
        guard frame == nil else { return }
        frame = Self.frame(opcode: message.kind.opcode, rsv1: false, payload: message.data, allocator: allocator)
    }

    /// The shared compressed frame usable by a connection with these parameters, if any.
    func sharedCompressedFrame(for parameters: PerMessageDeflateParameters) -> ByteBuffer? {
        guard let bits = parameters.sharingWindowBits else { return nil }
        return compressed[bits]
    }

    mutating func setCompressed(_ payload: ByteBuffer, windowBits: Int, allocator: ByteBufferAllocator) {
        compressed[windowBits] = Self.frame(opcode: message.kind.opcode, rsv1: true, payload: payload, allocator: allocator)
    }

    static func frame(opcode: WebSocketOpcode, rsv1: Bool, payload: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer {
        var buffer = allocator.buffer(capacity: WebSocketFrameEncoder.maxHeaderSize + payload.readableBytes)
        WebSocketFrameEncoder.writeHeader(rsv1: rsv1, opcode: opcode, length: payload.readableBytes, into: &buffer)
        var payload = payload
        buffer.writeBuffer(&payload)
        return buffer
    }
}

/// Compresses broadcast messages once per window size, without context takeover.
///
/// Owned by one event loop (zlib streams are not thread-safe), like the connections it serves;
/// it keeps one compressor per window size and reuses it across messages.
public final class WebSocketMessageCompressor {
    private let configuration: PerMessageDeflateConfiguration
    private var deflaters: [Int: PerMessageDeflater] = [:]
    private let allocator: ByteBufferAllocator
    private let statistics: DeflateStatistics?

    /// - Parameter statistics: counts the bytes of each message compressed (metrics).
    public init(configuration: PerMessageDeflateConfiguration, allocator: ByteBufferAllocator = .init(), statistics: DeflateStatistics? = nil) {
        self.configuration = configuration
        self.allocator = allocator
        self.statistics = statistics
    }

    /// Adds a compressed payload for connections that share `windowBits` (see the type's doc).
    /// Messages under the compression threshold are left alone: they are sent uncompressed.
    public func prepare(_ outbound: inout WebSocketOutboundMessage, windowBits: Int) {
        guard outbound.message.data.readableBytes >= configuration.compressionThreshold,
            outbound.compressed[windowBits] == nil
        else { return }
        let deflater: PerMessageDeflater
        if let existing = deflaters[windowBits] {
            deflater = existing
        } else if let created = PerMessageDeflater(
            windowBits: windowBits,
            noContextTakeover: true,
            level: configuration.compressionLevel,
            memoryLevel: configuration.memoryLevel
        ) {
            deflaters[windowBits] = created
            deflater = created
        } else {
            return  // zlib could not allocate: connections compress for themselves
        }
        let compressed = deflater.compress(outbound.message.data, allocator: allocator)
        statistics?.record(input: outbound.message.data.readableBytes, output: compressed.readableBytes)
        outbound.setCompressed(compressed, windowBits: windowBits, allocator: allocator)
    }
}

@available(*, unavailable)
extension WebSocketMessageCompressor: Sendable {}
