import Fallback
import Hub
import NIOCore
import NIOHTTP1
import NIOPosix
import WebSocket

/// Answers plain HTTP: static files, the publish API, the admin API (`AdminAPI`), the topic
/// read API (`TopicAPI`: history and presence), and WebSocket
/// handshakes that could not be upgraded (with the specific status of
/// `WebSocketHandshakeError`, since NIO's upgrade handler only passes the request on).
final class GatewayHTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "perigee.http"

    private let router: GatewayRouter
    private var request: HTTPRequestHead?
    private var body: ByteBuffer?
    private var bodyTooLarge = false

    init(router: GatewayRouter) {
        self.router = router
    }

    private var maxBodySize: Int { router.configuration.hub.limits.maxFrameSize }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            request = head
            body = nil
            bodyTooLarge = false
        case .body(var chunk):
            guard !bodyTooLarge else { return }
            if (body?.readableBytes ?? 0) + chunk.readableBytes > maxBodySize {
                bodyTooLarge = true
                body = nil
                // Answer now, not at the end of a body that may never end (a chunked body
                // declaring 2^64 bytes): 413, then drain for a while and close.
                if let head = request {
                    request = nil
                    refuseOversizedBody(head, context: context)
                }
                return
            }
            if body == nil {
                body = chunk
            } else {
                body?.writeBuffer(&chunk)
            }
        case .end:
            guard let head = request else { return }
            request = nil
            respond(to: head, body: body ?? ByteBuffer(), context: context)
            body = nil
        }
    }

    private func refuseOversizedBody(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = GatewayRouter.path(of: head.uri)
        var headers = HTTPHeaders()
        let text: String
        if router.sockJSService(owning: path) == nil, path == PublishRequest.pathPrefix || path.hasPrefix(PublishRequest.pathPrefix + "/") {
            headers.add(name: "Content-Type", value: "application/json")
            text = JSONValue.object([("error", .string("messages are limited to \(maxBodySize) bytes"))]).encoded + "\n"
        } else {
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
            text = "request body too large: the limit is \(maxBodySize) bytes\n"
        }
        router.requests.refused(.payloadTooLarge, reason: "request body too large: the limit is \(maxBodySize) bytes", head: head, channel: context.channel)
        sendBytes(.payloadTooLarge, headers: headers, body: context.channel.allocator.buffer(string: text), head: head, keepAlive: false, lingering: true, context: context)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // A refused handshake: the request itself follows and is answered in `respond`.
        if error is WebSocketHandshakeError { return }
        context.close(promise: nil)
    }

    private func respond(to head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let path = GatewayRouter.path(of: head.uri)
        let isUpgrade = WebSocketHandshake.isUpgradeRequest(head)
        if router.readiness.isDraining, refusedWhileDraining(head, path: path, isUpgrade: isUpgrade, context: context) {
            return
        }
        // A refused handshake at a WebSocket endpoint gets the engine's precise status; other
        // requests under a SockJS prefix are SockJS's (405 for a POSTed upgrade, for example).
        if isUpgrade && head.method == .GET && router.webSocketEndpoint(for: head) != nil {
            respondToRefusedUpgrade(head, context: context)
            return
        }
        if let service = router.sockJSService(owning: path) {
            let origin = router.originDecision(for: head)
            if case .refused(let refused) = origin {
                refuseOrigin(refused, head: head, context: context)
                return
            }
            guard !bodyTooLarge else {
                send(.payloadTooLarge, body: "request body too large\n", head: head, context: context)
                return
            }
            service.handle(head, body: body, channel: context.channel, corsOrigin: origin.corsOrigin)
            return
        }
        if isUpgrade {
            respondToRefusedUpgrade(head, context: context)
            return
        }
        if (path == "/api" || path.hasPrefix("/api/")) && answeredForOrigin(head, context: context) {
            return
        }
        if path == PublishRequest.pathPrefix || path.hasPrefix(PublishRequest.pathPrefix + "/") {
            guard head.method == .POST else {
                sendJSON(.methodNotAllowed, ["error": .string("use POST to publish")], head: head, extraHeaders: ["Allow": "POST"], context: context)
                return
            }
            publish(head, body: body, context: context)
            return
        }
        if AdminAPI.owns(path) {
            AdminAPI(hub: router.hub, gatekeeper: router.gatekeeper).answer(head, on: context.eventLoop).assumeIsolated().whenSuccess { reply in
                self.sendReply(reply, head: head, context: context)
            }
            return
        }
        if TopicAPI.owns(path) {
            TopicAPI(hub: router.hub, gatekeeper: router.gatekeeper).answer(head, on: context.eventLoop).assumeIsolated().whenSuccess { reply in
                self.sendReply(reply, head: head, context: context)
            }
            return
        }
        if path == "/healthz" || path == "/readyz" {
            guard head.method == .GET || head.method == .HEAD else {
                sendJSON(.methodNotAllowed, ["error": .string("use GET")], head: head, extraHeaders: ["Allow": "GET, HEAD"], context: context)
                return
            }
            // /healthz: the process serves HTTP. /readyz: and it wants traffic (listeners bound,
            // not stopping), so that a load balancer sends new clients elsewhere otherwise.
            let state = router.readiness.state
            if path == "/healthz" || state == .ready {
                sendJSON(.ok, ["status": .string(path == "/healthz" ? "ok" : state.rawValue)], head: head, context: context)
            } else {
                sendJSON(.serviceUnavailable, ["status": .string(state.rawValue)], head: head, context: context)
            }
            return
        }
        if path == "/metrics", let metrics = router.metrics {
            serveMetrics(metrics, head: head, context: context)
            return
        }
        guard head.method == .GET || head.method == .HEAD else {
            send(.methodNotAllowed, body: "method \(head.method.rawValue) not allowed\n", head: head, context: context)
            return
        }
        serveStatic(path, head: head, context: context)
    }

    // MARK: Draining

    /// While the server drains, requests that would start something new are answered 503
    /// with a JSON reason: WebSocket upgrades, requests that would open a SockJS session, and
    /// publishes. Polls and sends of existing SockJS sessions go on (a polling client fetches
    /// its `c[3000,"Go away!"]` that way), as do health checks. Returns whether it answered.
    private func refusedWhileDraining(_ head: HTTPRequestHead, path: String, isUpgrade: Bool, context: ChannelHandlerContext) -> Bool {
        let opensSomething: Bool
        if isUpgrade {
            opensSomething = true
        } else if let service = router.sockJSService(owning: path) {
            guard case .session(_, let id, _) = SockJSRoute(path: path, prefix: service.prefix) else { return false }
            opensSomething = service.registry.entry(id) == nil
        } else {
            opensSomething = path == PublishRequest.pathPrefix || path.hasPrefix(PublishRequest.pathPrefix + "/")
        }
        guard opensSomething else { return false }
        sendJSON(
            .serviceUnavailable,
            ["error": .string("server shutting down; connect to another node")],
            head: head,
            extraHeaders: ["Retry-After": "1"],
            keepAlive: isUpgrade ? false : nil,
            context: context
        )
        return true
    }

    // MARK: Publish API

    private func publish(_ head: HTTPRequestHead, body: ByteBuffer, context: ChannelHandlerContext) {
        let isLoopback = Self.isLoopback(context.channel.remoteAddress)
        let loop = context.eventLoop
        router.gatekeeper.authorizeRequest(head, isLoopback: isLoopback, on: loop).assumeIsolated().whenSuccess { result in
            switch result {
            case .failure(let failure):
                self.sendJSON(failure.status, ["error": .string(failure.message)], head: head, context: context)
            case .success(let principal):
                self.publish(head, body: body, as: principal, context: context)
            }
        }
    }

    /// Publishes for an authenticated principal: the access rules, then the send hook (which
    /// may refuse, drop or rewrite the message), then the hub.
    private func publish(_ head: HTTPRequestHead, body: ByteBuffer, as principal: Principal, context: ChannelHandlerContext) {
        guard !bodyTooLarge else {
            sendJSON(.payloadTooLarge, ["error": .string("messages are limited to \(maxBodySize) bytes")], head: head, context: context)
            return
        }
        let gatekeeper = router.gatekeeper
        let id = router.hub.nextMessageID(on: context.eventLoop)
        let message: HubMessage
        switch PublishRequest.message(head, body: body, id: id, sender: principal.user) {
        case .failure(let failure):
            sendJSON(failure.status, ["error": .string(failure.message)], head: head, context: context)
            return
        case .success(let built):
            message = built
        }
        guard gatekeeper.allows(principal, .send, message.destination) else {
            sendJSON(.forbidden, ["error": .string("you may not send to \(message.destination)")], head: head, context: context)
            return
        }
        guard gatekeeper.needsReview(principal, .send, message.destination) else {
            deliver(message, head: head, context: context)
            return
        }
        var passed = message.headers
        passed.remove(HubMessage.senderHeader)
        let request = StompReview(
            principal: principal,
            sessionName: "http",
            action: .send(message.destination, headers: passed, body: message.body),
            eventLoop: context.eventLoop
        )
        let reviewed: EventLoopFuture<Result<StompReview.Outcome, StompError>>
        switch gatekeeper.review(request) {
        case .decided(let result): reviewed = context.eventLoop.makeSucceededFuture(result)
        case .pending(let future): reviewed = future.hop(to: context.eventLoop)
        }
        reviewed.assumeIsolated().whenComplete { outcome in
            switch outcome {
            case .success(.success(.allow)):
                self.deliver(message, head: head, context: context)
            case .success(.success(.drop)):
                self.sendJSON(.accepted, ["message-id": .string(message.id), "delivered": .number(0), "queued": .bool(false)], head: head, context: context)
            case .success(.success(.replace(let headers, let body))):
                var replaced = HubMessage.passThroughHeaders(headers)
                if let user = principal.user { replaced.add(HubMessage.senderHeader, user) }
                self.deliver(HubMessage(id: message.id, destination: message.destination, headers: replaced, body: body, publishedAt: message.publishedAt), head: head, context: context)
            case .success(.failure(let error)):
                let status: HTTPResponseStatus = error.message == "authorization unavailable" ? .serviceUnavailable : .forbidden
                self.sendJSON(status, ["error": .string("\(error.message): \(error.detail)")], head: head, context: context)
            case .failure:
                self.sendJSON(.serviceUnavailable, ["error": .string("authorization unavailable")], head: head, context: context)
            }
        }
    }

    private func deliver(_ message: HubMessage, head: HTTPRequestHead, context: ChannelHandlerContext) {
        router.hub.publish(message, on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let outcome):
                self.router.metrics?.apiPublish()
                self.sendJSON(
                    .accepted,
                    ["message-id": .string(message.id), "delivered": .number(outcome.delivered), "queued": .bool(outcome.queued)],
                    head: head,
                    context: context
                )
            case .failure(let error):
                let text: String
                switch error as? Hub.PublishError {
                case .tooManyQueues(let limit): text = "at most \(limit) queues may exist; this message would create another"
                case .shuttingDown: text = "server shutting down; publish to another node"
                default: text = "\(message.destination) is full"
                }
                self.sendJSON(.serviceUnavailable, ["error": .string(text)], head: head, context: context)
            }
        }
    }

    // MARK: Metrics

    /// `GET /metrics`: the Prometheus text exposition, to the clients `metrics.access` allows.
    /// The hub's counters are read on every loop (`Hub.statistics`) and rendered once all
    /// have answered; the delivery path never waits for a scrape.
    private func serveMetrics(_ metrics: GatewayMetrics, head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard head.method == .GET || head.method == .HEAD else {
            sendJSON(.methodNotAllowed, ["error": .string("use GET")], head: head, extraHeaders: ["Allow": "GET, HEAD"], context: context)
            return
        }
        if let refusal = MetricsAccess.refusal(
            router.configuration.metrics.access,
            isLoopback: Self.isLoopback(context.channel.remoteAddress),
            authorization: head.headers.first(name: "authorization"),
            apiKeys: router.gatekeeper.settings.current.apiKeys
        ) {
            sendJSON(refusal.status, ["error": .string(refusal.message)], head: head, context: context)
            return
        }
        router.hub.statistics(on: context.eventLoop).assumeIsolated().whenComplete { result in
            switch result {
            case .success(let statistics):
                let headers: HTTPHeaders = ["Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store"]
                let body = context.channel.allocator.buffer(string: metrics.render(statistics))
                self.sendBytes(.ok, headers: headers, body: body, head: head, context: context)
            case .failure:
                self.sendJSON(.serviceUnavailable, ["error": .string("the hub did not answer")], head: head, context: context)
            }
        }
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        guard let ip = address?.ipAddress else { return false }
        return ip.hasPrefix("127.") || ip == "::1" || ip.hasPrefix("::ffff:127.")
    }

    // MARK: Static files

    private func serveStatic(_ path: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        guard let root = router.configuration.webRoot else {
            if path == "/" {
                send(.ok, body: "Perigee real-time gateway\n", head: head, context: context)
            } else {
                send(.notFound, body: "not found: \(path)\n", head: head, context: context)
            }
            return
        }
        guard let file = StaticFiles(root: root).file(for: path) else {
            send(.notFound, body: "not found: \(path)\n", head: head, context: context)
            return
        }
        let loop = context.eventLoop
        NIOThreadPool.singleton.runIfActive(eventLoop: loop) {
            try FileReader.read(file, maxSize: 16 << 20)
        }.assumeIsolated().whenComplete { result in
            switch result {
            case .success(let bytes):
                var headers = HTTPHeaders()
                headers.add(name: "Content-Type", value: StaticFiles.contentType(for: file))
                headers.add(name: "Cache-Control", value: "no-cache")
                self.sendBytes(.ok, headers: headers, body: context.channel.allocator.buffer(bytes: bytes), head: head, context: context)
            case .failure:
                self.send(.notFound, body: "not found: \(path)\n", head: head, context: context)
            }
        }
    }

    // MARK: Origins and CORS

    /// The HTTP API refuses foreign origins (a page elsewhere must not publish with the
    /// browser's loopback address or cookies) and answers CORS preflights of allowed ones.
    /// Returns whether it answered.
    private func answeredForOrigin(_ head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        switch router.originDecision(for: head) {
        case .refused(let origin):
            refuseOrigin(origin, head: head, context: context)
            return true
        case .allowed where head.method == .OPTIONS:
            // Fetch standard §4.8: a preflight names the method and headers it wants to use.
            var headers: HTTPHeaders = [
                "Access-Control-Allow-Methods": "GET, POST, DELETE, OPTIONS",
                "Access-Control-Max-Age": "600",
            ]
            let requested = head.headers.first(name: "access-control-request-headers") ?? ""
            headers.add(name: "Access-Control-Allow-Headers", value: requested.isEmpty ? "Authorization, Content-Type" : requested)
            sendBytes(.noContent, headers: headers, body: ByteBuffer(), head: head, context: context)
            return true
        case .allowed, .absent:
            return false
        }
    }

    /// 403 with the same text as a WebSocket handshake refused for its origin.
    private func refuseOrigin(_ origin: String, head: HTTPRequestHead, context: ChannelHandlerContext) {
        let error = WebSocketHandshakeError.originRejected(origin)
        send(error.status, body: error.message + "\n", head: head, context: context)
    }

    /// CORS headers for an allowed origin (Fetch standard §3.2.5), on every answer.
    private func addCORS(to headers: inout HTTPHeaders, for head: HTTPRequestHead) {
        // The answer depends on Origin whether or not this one is allowed: caches must key on it.
        headers.add(name: "Vary", value: "Origin")
        guard let origin = router.originDecision(for: head).corsOrigin else { return }
        headers.add(name: "Access-Control-Allow-Origin", value: origin)
        headers.add(name: "Access-Control-Allow-Credentials", value: "true")
    }

    // MARK: Refused upgrades

    /// The request asked for WebSocket but was not upgraded: say exactly why, then close (the
    /// HTTP decoder stops parsing after an upgrade request, so the connection cannot go on).
    private func respondToRefusedUpgrade(_ head: HTTPRequestHead, context: ChannelHandlerContext) {
        let error: WebSocketHandshakeError
        if let endpoint = router.webSocketEndpoint(for: head) {
            do {
                _ = try WebSocketHandshake.negotiate(head, endpoint: endpoint)
                router.metrics?.handshakeFailed(router.handshakeTransport(for: head), reason: "not_first_request")
                // Valid, yet not upgraded: NIO upgrades only the first request of a connection.
                send(
                    .badRequest,
                    body: "WebSocket upgrade must be the first request on a connection\n",
                    head: head,
                    keepAlive: false,
                    context: context
                )
                return
            } catch let refused {
                error = refused
            }
        } else {
            error = .noSuchEndpoint(GatewayRouter.path(of: head.uri))
        }
        router.metrics?.handshakeFailed(router.handshakeTransport(for: head), reason: error.reason)
        send(error.status, extraHeaders: error.headers, body: error.message + "\n", head: head, keepAlive: false, context: context)
    }

    // MARK: Responses

    /// An answer of the JSON APIs (`AdminAPI`, `TopicAPI`), never stored by a cache.
    private func sendReply(_ reply: APIReply, head: HTTPRequestHead, context: ChannelHandlerContext) {
        var headers: HTTPHeaders = ["Cache-Control": "no-store"]
        if let allow = reply.allow { headers.add(name: "Allow", value: allow) }
        sendJSON(reply.status, reply.body, head: head, extraHeaders: headers, context: context)
    }

    private func sendJSON(
        _ status: HTTPResponseStatus,
        _ object: [String: JSONValue],
        head: HTTPRequestHead,
        extraHeaders: HTTPHeaders = [:],
        keepAlive: Bool? = nil,
        context: ChannelHandlerContext
    ) {
        if status.code >= 400 {
            let reason: String
            if case .string(let text) = object["error"] { reason = text } else { reason = status.reasonPhrase }
            router.requests.refused(status, reason: reason, head: head, channel: context.channel)
        }
        let value = JSONValue.object(object.sorted { $0.key < $1.key })
        var headers = extraHeaders
        headers.add(name: "Content-Type", value: "application/json")
        let body = context.channel.allocator.buffer(string: value.encoded + "\n")
        sendBytes(status, headers: headers, body: body, head: head, keepAlive: keepAlive, context: context)
    }

    private func send(
        _ status: HTTPResponseStatus,
        extraHeaders: HTTPHeaders = [:],
        body: String,
        head: HTTPRequestHead,
        keepAlive: Bool? = nil,
        context: ChannelHandlerContext
    ) {
        // Every refusal answered in plain text passes here: log it (without query or headers).
        router.requests.refused(status, reason: body, head: head, channel: context.channel)
        var headers = extraHeaders
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        sendBytes(status, headers: headers, body: context.channel.allocator.buffer(string: body), head: head, keepAlive: keepAlive, context: context)
    }

    private func sendBytes(
        _ status: HTTPResponseStatus,
        headers extra: HTTPHeaders,
        body: ByteBuffer,
        head: HTTPRequestHead,
        keepAlive: Bool? = nil,
        lingering: Bool = false,
        context: ChannelHandlerContext
    ) {
        router.metrics?.httpResponse(status: Int(status.code))
        let keepAlive = keepAlive ?? head.isKeepAlive
        var headers = extra
        headers.add(name: "Content-Length", value: String(body.readableBytes))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        // Error bodies echo the client's path: never let a browser sniff them as HTML.
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        addCORS(to: &headers, for: head)
        let response = HTTPResponseHead(version: head.version, status: status, headers: headers)
        context.write(wrapOutboundOut(.head(response)), promise: nil)
        if head.method != .HEAD {
            context.write(wrapOutboundOut(.body(.byteBuffer(body))), promise: nil)
        }
        let written = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if lingering {
            // The client is still sending: closing now could reset the answer away.
            LingeringClose.start(context: context, timeout: router.configuration.lingerTimeout, after: written)
        } else if !keepAlive {
            written.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension GatewayHTTPHandler: Sendable {}
