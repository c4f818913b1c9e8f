/// A SockJS frame (SockJS protocol 0.3, "Framing"): the one-letter frames every transport
/// carries, whatever its own wrapping (a line, an EventSource event, a script call).
public enum SockJSFrame: Sendable, Equatable {
    /// `o`: the session is open.
    case open
    /// `h`: nothing to say, the connection is alive.
    case heartbeat
    /// `a[...]`: messages, as a JSON array of strings.
    case messages([SockJSMessage])
    /// `c[code,"reason"]`: the session is closed.
    case close(code: Int, reason: String)

    /// The frame as SockJS text, with SockJS's JSON escaping.
    public var encoded: String {
        switch self {
        case .open: return "o"
        case .heartbeat: return "h"
        case .messages(let messages): return "a[" + messages.map(\.quoted).joined(separator: ",") + "]"
        case .close(let code, let reason): return "c[\(code),\(SockJSJSON.quote(reason))]"
        }
    }

    /// Close 3000: the application closed the session (the protocol's "Go away!").
    public static let goAway = SockJSFrame.close(code: 3000, reason: "Go away!")
    /// Close 2010: a second receiving request while one is open.
    public static let anotherConnectionOpen = SockJSFrame.close(code: 2010, reason: "Another connection still open")
    /// Close 1002: the client stopped polling or the queue overflowed.
    public static let interrupted = SockJSFrame.close(code: 1002, reason: "Connection interrupted")
}
