import NIOCore

/// One RFC 6455 frame (§5.2) with its payload already unmasked.
///
/// The payload is a `ByteBuffer`, so a frame broadcast to many connections shares one copy of
/// its bytes; only the few header bytes are produced per connection.
public struct WebSocketFrame: Sendable, Equatable {
    public var fin: Bool
    /// RSV1: set on the first frame of a compressed message when permessage-deflate is in use
    /// (RFC 7692 §6); otherwise it must be clear.
    public var rsv1: Bool
    public var rsv2: Bool
    public var rsv3: Bool
    public var opcode: WebSocketOpcode
    public var payload: ByteBuffer

    public init(
        fin: Bool = true,
        rsv1: Bool = false,
        rsv2: Bool = false,
        rsv3: Bool = false,
        opcode: WebSocketOpcode,
        payload: ByteBuffer
    ) {
        self.fin = fin
        self.rsv1 = rsv1
        self.rsv2 = rsv2
        self.rsv3 = rsv3
        self.opcode = opcode
        self.payload = payload
    }
}
