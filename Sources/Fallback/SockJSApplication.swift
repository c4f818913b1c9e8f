/// What runs on a SockJS session (a STOMP session, an echo). Called on the session's loop.
public protocol SockJSApplication: AnyObject {
    /// The session exists; `session.send` works from now on.
    func sockJSSessionDidOpen(_ session: SockJSSession)
    /// A message from the client, in order.
    func sockJSSession(_ session: SockJSSession, didReceive message: String)
    /// The session is over (closed by either side, or the client stopped polling).
    func sockJSSessionDidClose(_ session: SockJSSession)
}
