import Fallback

/// The SockJS protocol suite's `echo` service: every message comes back.
final class SockJSEchoApplication: SockJSApplication {
    func sockJSSessionDidOpen(_ session: SockJSSession) {}

    func sockJSSession(_ session: SockJSSession, didReceive message: String) {
        session.send(message)
    }

    func sockJSSessionDidClose(_ session: SockJSSession) {}
}

/// The suite's `close` service: closes every session as soon as it opens.
final class SockJSCloseApplication: SockJSApplication {
    func sockJSSessionDidOpen(_ session: SockJSSession) {
        session.close()
    }

    func sockJSSession(_ session: SockJSSession, didReceive message: String) {}

    func sockJSSessionDidClose(_ session: SockJSSession) {}
}
