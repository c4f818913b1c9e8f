/// Why the engine failed a connection (RFC 6455 §7.1.7), with the close code that goes on the
/// wire.
///
/// A struct around a private enum so that new cases can be added without breaking callers;
/// the mapping to close codes and reasons lives only here.
public struct WebSocketError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case unmaskedFrame
        case maskedServerFrame
        case reservedOpcode(UInt8)
        case reservedBitsSet
        case invalidLength
        case controlFrameTooLong
        case fragmentedControlFrame
        case unexpectedContinuation
        case expectedContinuation
        case frameTooLarge(limit: Int)
        case messageTooLarge(limit: Int)
        case invalidUTF8
        case invalidCloseCode(UInt16)
        case invalidClosePayload
        case invalidCloseReason
        case invalidCompressedData
    }

    private let base: Base

    private init(_ base: Base) {
        self.base = base
    }

    /// A client frame without a mask (§5.1).
    public static let unmaskedFrame = WebSocketError(.unmaskedFrame)
    /// A masked frame where the peer is a server (§5.1); used by the client-side parser.
    public static let maskedServerFrame = WebSocketError(.maskedServerFrame)
    /// An opcode RFC 6455 reserves (§5.2).
    public static func reservedOpcode(_ value: UInt8) -> WebSocketError { .init(.reservedOpcode(value)) }
    /// An RSV bit that no negotiated extension defines (§5.2, RFC 7692 §6).
    public static let reservedBitsSet = WebSocketError(.reservedBitsSet)
    /// A 64-bit payload length with the most significant bit set (§5.2).
    public static let invalidLength = WebSocketError(.invalidLength)
    /// A control frame whose payload exceeds 125 bytes (§5.5).
    public static let controlFrameTooLong = WebSocketError(.controlFrameTooLong)
    /// A control frame without FIN (§5.5).
    public static let fragmentedControlFrame = WebSocketError(.fragmentedControlFrame)
    /// A continuation frame with no message in progress (§5.4).
    public static let unexpectedContinuation = WebSocketError(.unexpectedContinuation)
    /// A new text or binary frame while a fragmented message is still open (§5.4).
    public static let expectedContinuation = WebSocketError(.expectedContinuation)
    /// A frame longer than the configured maximum.
    public static func frameTooLarge(limit: Int) -> WebSocketError { .init(.frameTooLarge(limit: limit)) }
    /// A message (after decompression) longer than the configured maximum.
    public static func messageTooLarge(limit: Int) -> WebSocketError { .init(.messageTooLarge(limit: limit)) }
    /// A text message that is not UTF-8 (§5.6, §8.1).
    public static let invalidUTF8 = WebSocketError(.invalidUTF8)
    /// A close frame with a code a peer may not send (§7.4).
    public static func invalidCloseCode(_ code: UInt16) -> WebSocketError { .init(.invalidCloseCode(code)) }
    /// A close frame with a one-byte payload (§5.5.1).
    public static let invalidClosePayload = WebSocketError(.invalidClosePayload)
    /// A close reason that is not UTF-8 (§5.5.1).
    public static let invalidCloseReason = WebSocketError(.invalidCloseReason)
    /// A compressed message zlib cannot inflate (RFC 7692 §8.2.3).
    public static let invalidCompressedData = WebSocketError(.invalidCompressedData)

    /// The code sent in the close frame that fails the connection.
    public var closeCode: WebSocketCloseCode {
        switch base {
        case .frameTooLarge, .messageTooLarge:
            return .messageTooBig
        case .invalidUTF8, .invalidCloseReason, .invalidCompressedData:
            return .invalidPayloadData
        case .unmaskedFrame, .maskedServerFrame, .reservedOpcode, .reservedBitsSet, .invalidLength,
            .controlFrameTooLong, .fragmentedControlFrame, .unexpectedContinuation,
            .expectedContinuation, .invalidCloseCode, .invalidClosePayload:
            return .protocolError
        }
    }

    /// The configured limit this error reports reaching, as a metric label
    /// (`websocket_frame_size`, `websocket_message_size`); nil for protocol violations.
    public var limit: String? {
        switch base {
        case .frameTooLarge: return "websocket_frame_size"
        case .messageTooLarge: return "websocket_message_size"
        default: return nil
        }
    }

    /// The reason sent in that close frame; short enough for a control frame (≤ 123 bytes).
    public var reason: String {
        switch base {
        case .unmaskedFrame: return "client frames must be masked"
        case .maskedServerFrame: return "server frames must not be masked"
        case .reservedOpcode(let value): return "reserved opcode 0x\(String(value, radix: 16))"
        case .reservedBitsSet: return "reserved bits set without a negotiated extension"
        case .invalidLength: return "payload length has the most significant bit set"
        case .controlFrameTooLong: return "control frame payload longer than 125 bytes"
        case .fragmentedControlFrame: return "control frames must not be fragmented"
        case .unexpectedContinuation: return "continuation frame without a message to continue"
        case .expectedContinuation: return "new data frame inside a fragmented message"
        case .frameTooLarge(let limit): return "frame larger than \(limit) bytes"
        case .messageTooLarge(let limit): return "message larger than \(limit) bytes"
        case .invalidUTF8: return "text message is not valid UTF-8"
        case .invalidCloseCode(let code): return "invalid close code \(code)"
        case .invalidClosePayload: return "close payload of one byte"
        case .invalidCloseReason: return "close reason is not valid UTF-8"
        case .invalidCompressedData: return "compressed message cannot be inflated"
        }
    }

    public var description: String { "WebSocketError(\(closeCode.rawValue): \(reason))" }
}
