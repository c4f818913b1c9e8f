/// What a path under a SockJS prefix asks for (SockJS protocol 0.3 "URL scheme").
public enum SockJSRoute: Equatable, Sendable {
    case greeting
    case info
    case iframe
    /// `/websocket` directly under the prefix: a plain WebSocket, no SockJS framing.
    case rawWebSocket
    /// `/<server>/<session>/<transport>`.
    case session(server: String, session: String, transport: SockJSTransport)
    case notFound

    /// Routes `path` (already stripped of the query) relative to `prefix`; nil when the path
    /// is not under the prefix at all.
    public init?(path: String, prefix: String) {
        guard path == prefix || path.hasPrefix(prefix + "/") else { return nil }
        let rest = String(path.dropFirst(prefix.count))
        switch rest {
        case "", "/":
            self = .greeting
            return
        case "/info":
            self = .info
            return
        case "/websocket":
            self = .rawWebSocket
            return
        default:
            break
        }
        if Self.isIframe(rest) {
            self = .iframe
            return
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        // "", server, session, transport
        guard parts.count == 4, parts[0].isEmpty,
            Self.isValidID(parts[1]), Self.isValidID(parts[2]),
            let transport = SockJSTransport(rawValue: String(parts[3]))
        else {
            self = .notFound
            return
        }
        self = .session(server: String(parts[1]), session: String(parts[2]), transport: transport)
    }

    /// `/iframe.html` or `/iframe-<anything without a slash>.html`.
    private static func isIframe(_ rest: String) -> Bool {
        guard rest.hasPrefix("/iframe"), rest.hasSuffix(".html") else { return false }
        let middle = rest.dropFirst("/iframe".count).dropLast(".html".count)
        return middle.isEmpty || (middle.hasPrefix("-") && !middle.contains("/"))
    }

    /// Server and session ids: anything non-empty without dots.
    private static func isValidID(_ id: Substring) -> Bool {
        !id.isEmpty && !id.contains(".")
    }
}

/// The transports of a session URL.
public enum SockJSTransport: String, Sendable, Equatable {
    case websocket
    case xhr
    case xhrSend = "xhr_send"
    case xhrStreaming = "xhr_streaming"
    case eventSource = "eventsource"
    case htmlFile = "htmlfile"
    case jsonp
    case jsonpSend = "jsonp_send"

    /// The HTTP method the transport takes (OPTIONS aside).
    var method: String {
        switch self {
        case .websocket, .eventSource, .htmlFile, .jsonp: return "GET"
        case .xhr, .xhrSend, .xhrStreaming, .jsonpSend: return "POST"
        }
    }

    /// Whether OPTIONS (CORS preflight) is answered for it.
    var allowsPreflight: Bool {
        switch self {
        case .xhr, .xhrSend, .xhrStreaming: return true
        default: return false
        }
    }
}
