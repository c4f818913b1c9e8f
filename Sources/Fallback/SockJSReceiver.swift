/// The connection that currently carries frames to the client: a polling or streaming HTTP
/// response, or a WebSocket. Used on the session's loop.
public protocol SockJSReceiver: AnyObject {
    /// Sends one frame. Returns false when the receiver has ended (a poll was answered, or a
    /// streaming response reached its byte limit), after which the session forgets it.
    func deliver(_ frame: SockJSFrame) -> Bool
    /// Whether the connection takes more without buffering past its high-water mark; while it
    /// does not, the session keeps messages in its own bounded queue.
    var isWritable: Bool { get }
    /// Ends the receiver without a frame (the session is going away).
    func end()
}
