import NIOCore

/// A complete data message (RFC 6455 §5.6): text or binary, reassembled and decompressed.
public struct WebSocketMessage: Sendable, Equatable {
    public enum Kind: Sendable, Hashable {
        case text
        case binary

        var opcode: WebSocketOpcode { self == .text ? .text : .binary }
    }

    public var kind: Kind
    public var data: ByteBuffer

    public init(kind: Kind, data: ByteBuffer) {
        self.kind = kind
        self.data = data
    }

    /// A text message holding `string`'s UTF-8.
    public static func text(_ string: String, allocator: ByteBufferAllocator = .init()) -> WebSocketMessage {
        WebSocketMessage(kind: .text, data: allocator.buffer(string: string))
    }
}
