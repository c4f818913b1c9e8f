/// A frame opcode (RFC 6455 §5.2, §11.8).
///
/// Reserved values are representable so that the parser can report them precisely (close 1002)
/// instead of losing them in a failed initialiser.
public struct WebSocketOpcode: Hashable, Sendable, CustomStringConvertible {
    /// The 4-bit value on the wire.
    public let rawValue: UInt8

    /// Creates an opcode from the low four bits of `rawValue`.
    public init(rawValue: UInt8) {
        self.rawValue = rawValue & 0x0F
    }

    public static let continuation = WebSocketOpcode(rawValue: 0x0)
    public static let text = WebSocketOpcode(rawValue: 0x1)
    public static let binary = WebSocketOpcode(rawValue: 0x2)
    public static let close = WebSocketOpcode(rawValue: 0x8)
    public static let ping = WebSocketOpcode(rawValue: 0x9)
    public static let pong = WebSocketOpcode(rawValue: 0xA)

    /// Control frames have the high bit of the opcode set (RFC 6455 §5.5).
    public var isControl: Bool { rawValue & 0x8 != 0 }

    /// Whether RFC 6455 defines this opcode; 0x3–0x7 and 0xB–0xF are reserved.
    public var isDefined: Bool {
        switch rawValue {
        case 0x0, 0x1, 0x2, 0x8, 0x9, 0xA: return true
        default: return false
        }
    }

    public var description: String {
        switch rawValue {
        case 0x0: return "continuation"
        case 0x1: return "text"
        case 0x2: return "binary"
        case 0x8: return "close"
        case 0x9: return "ping"
        case 0xA: return "pong"
        default: return "reserved(0x\(String(rawValue, radix: 16)))"
        }
    }
}
