import NIOCore

/// One STOMP frame: command, headers and body (STOMP 1.2 "STOMP Frames").
///
/// The body is a `ByteBuffer` so that fan-out shares one copy of it across subscribers.
public struct StompFrame: Sendable, Equatable {
    public var command: StompCommand
    public var headers: StompHeaders
    public var body: ByteBuffer

    public init(_ command: StompCommand, headers: StompHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.command = command
        self.headers = headers
        self.body = body
    }

    /// The body as UTF-8 text (for logging and tests).
    public var bodyText: String { String(buffer: body) }
}
