import NIOCore
import NIOHTTP1

/// One SockJS endpoint (SockJS protocol 0.3) under a URL prefix: greeting, `/info`, the iframe
/// page, and every HTTP transport of its sessions. WebSocket transports are upgrades and go
/// through `webSocketEndpoint`. Shared by all connections; sessions live in `registry`.
public final class SockJSService: Sendable {
    public let prefix: String
    public let configuration: SockJSConfiguration
    public let registry = SockJSSessionRegistry()
    private let makeApplication: @Sendable (SockJSOpening) -> any SockJSApplication
    /// Told of every session that could not be opened: the transport (`xhr-polling`, ...) and
    /// a fixed reason (`max_sessions`, `max_sessions_per_address`), for metrics.
    private let onRefusal: @Sendable (_ transport: String, _ reason: String) -> Void

    /// Creates the application of a session (for the WebSocket transports).
    public var applicationFactory: @Sendable (SockJSOpening) -> any SockJSApplication { makeApplication }
    private let iframeETag: String

    /// - Parameter makeApplication: creates the application of a new session, on the
    ///   session's event loop, from the request that opened it.
    ///   - onRefusal: told of each session refused for a limit (transport, reason).
    public init(
        prefix: String,
        configuration: SockJSConfiguration,
        onRefusal: @escaping @Sendable (_ transport: String, _ reason: String) -> Void = { _, _ in },
        makeApplication: @escaping @Sendable (SockJSOpening) -> any SockJSApplication
    ) {
        self.prefix = prefix
        self.configuration = configuration
        self.onRefusal = onRefusal
        self.makeApplication = makeApplication
        self.iframeETag = "\"" + String(Self.fnv1a(Self.iframePage(configuration.sockjsURL)), radix: 16) + "\""
    }

    /// Whether `path` belongs to this service.
    public func owns(path: String) -> Bool {
        path == prefix || path.hasPrefix(prefix + "/")
    }

    // MARK: HTTP

    /// Answers a request under the prefix; `body` is the whole request body.
    /// - Parameter corsOrigin: the origin the caller has allowed for this request: CORS answers
    ///   name it, with credentials. nil (no `Origin`) answers `Access-Control-Allow-Origin: *`.
    ///   The caller refuses origins it does not allow before calling; this service never
    ///   echoes an `Origin` header by itself.
    public func handle(_ head: HTTPRequestHead, body: ByteBuffer, channel: Channel, corsOrigin: String?) {
        let (path, query) = Self.split(head.uri)
        guard let route = SockJSRoute(path: path, prefix: prefix) else { return }
        let responder = SockJSResponder(channel: channel, request: head, configuration: configuration, corsOrigin: corsOrigin)
        switch route {
        case .greeting:
            guard head.method == .GET || head.method == .HEAD else { return responder.methodNotAllowed("GET") }
            responder.respond(.ok, contentType: "text/plain; charset=UTF-8", body: "Welcome to SockJS!\n")
        case .info:
            info(head, responder: responder)
        case .iframe:
            iframe(head, responder: responder)
        case .rawWebSocket:
            responder.refuseWebSocket(head)
        case .notFound:
            responder.respond(.notFound, contentType: "text/plain; charset=UTF-8", body: "Not found\n")
        case .session(_, let session, let transport):
            if head.method == .OPTIONS && transport.allowsPreflight {
                return responder.preflight(methods: "OPTIONS, POST")
            }
            if transport == .websocket { return responder.refuseWebSocket(head) }
            guard head.method.rawValue == transport.method else { return responder.methodNotAllowed(transport.method) }
            switch transport {
            case .xhrSend:
                send(session, payload: Self.bytes(body), responder: responder, jsonp: false)
            case .jsonpSend:
                send(session, payload: Self.jsonpPayload(head, body: body), responder: responder, jsonp: true)
            case .xhr:
                receive(session, kind: .xhrPolling, responder: responder)
            case .xhrStreaming:
                receive(session, kind: .xhrStreaming, responder: responder)
            case .eventSource:
                receive(session, kind: .eventSource, responder: responder)
            case .htmlFile, .jsonp:
                guard let callback = Self.parameter("c", in: query) else {
                    return responder.respond(.internalServerError, contentType: "text/plain; charset=UTF-8", body: "\"callback\" parameter required")
                }
                guard SockJSReceiverKind.isValidCallback(callback) else {
                    return responder.respond(.internalServerError, contentType: "text/plain; charset=UTF-8", body: "invalid \"callback\" parameter")
                }
                receive(session, kind: transport == .jsonp ? .jsonp(callback: callback) : .htmlFile(callback: callback), responder: responder)
            case .websocket:
                break
            }
        }
    }

    private func info(_ head: HTTPRequestHead, responder: SockJSResponder) {
        if head.method == .OPTIONS { return responder.preflight(methods: "OPTIONS, GET") }
        guard head.method == .GET else { return responder.methodNotAllowed("OPTIONS, GET") }
        let entropy = UInt32.random(in: 0...UInt32.max)
        let json = "{\"websocket\":\(configuration.websocket),\"cookie_needed\":\(configuration.cookieNeeded),\"origins\":[\"*:*\"],\"entropy\":\(entropy)}"
        responder.respond(.ok, contentType: "application/json; charset=UTF-8", body: json, cors: true, noCache: true)
    }

    private func iframe(_ head: HTTPRequestHead, responder: SockJSResponder) {
        guard head.method == .GET else { return responder.methodNotAllowed("GET") }
        if head.headers["if-none-match"].contains(iframeETag) {
            return responder.respond(.notModified, contentType: nil, body: "", extra: ["ETag": iframeETag])
        }
        responder.respond(
            .ok, contentType: "text/html; charset=UTF-8", body: Self.iframePage(configuration.sockjsURL),
            extra: ["ETag": iframeETag], cacheForever: true
        )
    }

    private func send(_ id: String, payload: [UInt8]?, responder: SockJSResponder, jsonp: Bool) {
        guard let entry = registry.entry(id) else {
            return responder.respond(.notFound, contentType: "text/plain; charset=UTF-8", body: "Not found\n")
        }
        guard let payload, !payload.isEmpty else {
            return responder.respond(.internalServerError, contentType: "text/plain; charset=UTF-8", body: "Payload expected.", cors: true, noCache: true, cookie: true)
        }
        guard payload.count <= configuration.maxSendBytes else {
            return responder.respond(.payloadTooLarge, contentType: "text/plain; charset=UTF-8", body: "Payload too large.", cors: true, noCache: true, cookie: true)
        }
        guard let messages = SockJSJSON.decodeMessages(payload) else {
            return responder.respond(.internalServerError, contentType: "text/plain; charset=UTF-8", body: "Broken JSON encoding.", cors: true, noCache: true, cookie: true)
        }
        // Hand the messages to the session's loop first, then answer: the client sends its
        // next batch only after this answer, so batches stay in order.
        let session = entry.session
        // The request that carries messages, not the one that opened the session, is the one
        // an application may trust for the client's cookies: a session id is chosen by the
        // client, so a page could open one in a victim's browser (a cross-site navigation,
        // which carries cookies but no Origin) and then send on it from elsewhere.
        let sender = SockJSOpening(transport: "xhr_send", request: responder.request, remoteAddress: responder.channel.remoteAddress)
        entry.eventLoop.execute { session.value.receive(messages, from: sender) }
        if jsonp {
            responder.respond(.ok, contentType: "text/plain; charset=UTF-8", body: "ok", cors: true, noCache: true, cookie: true)
        } else {
            responder.respond(.noContent, contentType: "text/plain; charset=UTF-8", body: "", cors: true, noCache: true, cookie: true)
        }
    }

    private func receive(_ id: String, kind: SockJSReceiverKind, responder: SockJSResponder) {
        let address = responder.channel.remoteAddress?.ipAddress ?? ""
        if registry.entry(id) == nil, let refusal = registry.admissionRefusal(address: address, configuration: configuration) {
            onRefusal(kind.transportName, SockJSSessionRegistry.reason(ofRefusal: refusal))
            return responder.respond(.serviceUnavailable, contentType: "text/plain; charset=UTF-8", body: refusal + "\n", cors: true, noCache: true)
        }
        responder.startStream(kind: kind)
        let channel = responder.channel
        let closeAfterEnd = responder.closeAfterEnd
        let limit = configuration.responseLimit
        let attach: @Sendable (NIOLoopBoundBox<SockJSSession>) -> Void = { box in
            let session = box.value
            let receiver = SockJSHTTPReceiver(channel: channel, kind: kind, responseLimit: limit, closeAfterEnd: closeAfterEnd)
            session.attach(receiver)
            guard !receiver.ended else { return }
            // A client that drops its receiving connection interrupts the session.
            let bound = NIOLoopBound(receiver, eventLoop: session.eventLoop)
            let loop = session.eventLoop
            channel.closeFuture.whenComplete { _ in
                loop.execute {
                    if !bound.value.ended { box.value.clientAborted(bound.value) }
                }
            }
        }
        let loop = channel.eventLoop
        let opening = SockJSOpening(transport: kind.transportName, request: responder.request, remoteAddress: channel.remoteAddress)
        let makeApplication = self.makeApplication
        switch registry.findOrCreate(id, on: loop, address: address, configuration: configuration, makeApplication: { makeApplication(opening) }) {
        case .here(let session, _):
            attach(NIOLoopBoundBox(session, eventLoop: loop))
        case .elsewhere:
            if let entry = registry.entry(id) {
                entry.eventLoop.execute { attach(entry.session) }
            } else {
                responder.endStream()
            }
        case .refused(let refusal):
            onRefusal(kind.transportName, SockJSSessionRegistry.reason(ofRefusal: refusal))
            // The head already went out; the body says why and the response ends.
            responder.endStream()
        }
    }

    // MARK: Helpers

    static func iframePage(_ sockjsURL: String) -> String {
        """
        <!DOCTYPE html>
        <html>
        <head>
          <meta http-equiv="X-UA-Compatible" content="IE=edge" />
          <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
          <script src="\(sockjsURL)"></script>
          <script>
            document.domain = document.domain;
            SockJS.bootstrap_iframe();
          </script>
        </head>
        <body>
          <h2>Don't panic!</h2>
          <p>This is a SockJS hidden iframe. It's used for cross domain magic.</p>
        </body>
        </html>
        """
    }

    private static func fnv1a(_ text: String) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            hash ^= UInt64(byte)
            hash = hash &* 0x100_0000_01B3
        }
        return hash
    }

    static func split(_ uri: String) -> (path: String, query: String) {
        guard let mark = uri.firstIndex(of: "?") else { return (uri, "") }
        return (String(uri[..<mark]), String(uri[uri.index(after: mark)...]))
    }

    static func bytes(_ body: ByteBuffer) -> [UInt8] {
        Array(body.readableBytesView)
    }

    /// A parameter of a URL-encoded query or form, decoded.
    static func parameter(_ name: String, in query: String) -> String? {
        for pair in query.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            return formDecode(parts[1])
        }
        return nil
    }

    /// jsonp_send takes the payload in the form field `d`, or as the raw body.
    static func jsonpPayload(_ head: HTTPRequestHead, body: ByteBuffer) -> [UInt8]? {
        let contentType = head.headers.first(name: "content-type")?.lowercased() ?? ""
        guard contentType.hasPrefix("application/x-www-form-urlencoded") else { return bytes(body) }
        let form = String(decoding: body.readableBytesView, as: UTF8.self)
        return parameter("d", in: form).map { Array($0.utf8) }
    }

    static func formDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next(), let low = iterator.next(),
                    let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
                else { return nil }
                bytes.append(value)
            default:
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
