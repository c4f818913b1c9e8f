import NIOCore
import NIOHTTP1

/// What a transport knows of a client before its STOMP CONNECT, handed to the gatekeeper
/// (`StompConnectRequest.client`): which transport, the peer's address, the headers of the
/// WebSocket handshake or of the SockJS request that opened the session, and a `?token=` from
/// that request's URL (browsers cannot set headers on a WebSocket).
struct ClientContext: Sendable {
    /// `websocket`, `tcp`, `sockjs-websocket`, `xhr-streaming`, `xhr-polling`, `eventsource`,
    /// `htmlfile`, `jsonp-polling`.
    var transport: String
    var tls: Bool
    var address: SocketAddress?
    /// The forwarded request headers (lowercased names): `cookie`, `origin`, `user-agent`, and
    /// those named in `hooks.forward_headers`; nothing else is kept.
    var httpHeaders: [(String, String)] = []
    var queryToken: String?

    /// Request headers always forwarded to the connect hook.
    static let forwardedHeaders: Set<String> = ["cookie", "origin", "user-agent"]
    /// Longest value of one forwarded header kept, in bytes.
    static let maxHeaderValue = 16 * 1024

    init(transport: String, tls: Bool = false, address: SocketAddress?) {
        self.transport = transport
        self.tls = tls
        self.address = address
    }

    /// The context of a client whose session an HTTP request (`head`) opened.
    init(transport: String, tls: Bool = false, address: SocketAddress?, request head: HTTPRequestHead, forwarding extra: Set<String>) {
        self.init(transport: transport, tls: tls, address: address)
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            guard Self.forwardedHeaders.contains(lowered) || extra.contains(lowered), value.utf8.count <= Self.maxHeaderValue else { continue }
            guard !httpHeaders.contains(where: { $0.0 == lowered }) else { continue }
            httpHeaders.append((lowered, value))
        }
        queryToken = Self.queryParameter("token", in: head.uri)
    }

    /// The percent-decoded value of a query parameter, if present (and at most 8 KiB).
    static func queryParameter(_ name: String, in uri: String) -> String? {
        guard let question = uri.firstIndex(of: "?") else { return nil }
        let query = uri[uri.index(after: question)...].prefix { $0 != "#" }
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name, parts[1].utf8.count <= 8 * 1024 else { continue }
            return PercentEncoding.decode(parts[1], plusIsSpace: true, maxBytes: 8 * 1024)
        }
        return nil
    }
}
