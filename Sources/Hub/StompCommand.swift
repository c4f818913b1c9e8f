/// A STOMP command (STOMP 1.2 "Frames": client frames and server frames).
public enum StompCommand: String, Sendable, Hashable, CaseIterable {
    // Client frames.
    case connect = "CONNECT"
    case stomp = "STOMP"
    case send = "SEND"
    case subscribe = "SUBSCRIBE"
    case unsubscribe = "UNSUBSCRIBE"
    case ack = "ACK"
    case nack = "NACK"
    case begin = "BEGIN"
    case commit = "COMMIT"
    case abort = "ABORT"
    case disconnect = "DISCONNECT"
    // Server frames.
    case connected = "CONNECTED"
    case message = "MESSAGE"
    case receipt = "RECEIPT"
    case error = "ERROR"

    /// CONNECT, STOMP and CONNECTED never escape header values (STOMP 1.2 "Value Encoding"),
    /// so that a 1.0 peer can read them before a version is agreed.
    public var escapesHeaders: Bool {
        switch self {
        case .connect, .stomp, .connected: return false
        default: return true
        }
    }
}
