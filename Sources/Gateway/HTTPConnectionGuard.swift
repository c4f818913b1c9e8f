import NIOCore
import NIOHTTP1

/// Protects an HTTP/1.1 connection from clients that are slow or broken on purpose:
///
/// - a request head must be complete within `head` of the connection opening (slowloris),
///   and its body within `body` of the head: past either, 408 and close;
/// - a keep-alive connection idle for `keepAliveTimeout` after its last response closes;
/// - a request the HTTP parser rejects gets a specific status (431 for an oversized head,
///   400 otherwise) and a lingering close, so that the client reads it instead of a reset;
/// - while the socket is not writable (the client does not read its responses), the next
///   pipelined request waits, so responses cannot pile up in memory.
///
/// Sits right after NIO's request decoder (before its pipelining and upgrade handlers, so that
/// its own answers go straight to the encoder); it is removed when the connection upgrades to
/// WebSocket, whose own timers take over.
final class HTTPConnectionGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias InboundOut = HTTPServerRequestPart
    typealias OutboundIn = HTTPServerResponsePart
    typealias OutboundOut = HTTPServerResponsePart

    static let name = "perigee.http-guard"

    struct Timeouts {
        var head: TimeAmount
        var body: TimeAmount
        var keepAlive: TimeAmount
        var linger: TimeAmount
    }

    private enum Phase {
        /// Waiting for a request head (a new connection, or after the last response).
        case awaitingHead(idle: Bool)
        /// A request body is arriving.
        case readingBody
        /// The request is complete; its response is being produced (it may stream for long).
        case responding
        /// Closing: input is discarded.
        case closing
    }

    private let timeouts: Timeouts
    private let requests: RequestLogger?
    /// The head of the request being read, for the log line of a refusal (408 on its body).
    private var currentHead: HTTPRequestHead?
    private var phase: Phase = .awaitingHead(idle: false)
    private var timer: Scheduled<Void>?
    private var held: [HTTPServerRequestPart] = []
    /// A response head went out and its end has not: the guard must not write one of its own.
    private var responseInProgress = false
    /// The request being answered asked to upgrade. While it is answered, what arrives is not
    /// necessarily HTTP any more: at the upgrade, the decoder hands on the bytes after the head
    /// (a draft-76 key3, a first WebSocket frame) as raw bytes, and they must pass untouched.
    private var upgradeRequested = false
    private var pendingRead = false

    /// - Parameter requests: where refusals (400, 408, 431) are logged; nil logs nothing.
    init(timeouts: Timeouts, requests: RequestLogger? = nil) {
        self.timeouts = timeouts
        self.requests = requests
    }

    func handlerAdded(context: ChannelHandlerContext) {
        arm(timeouts.head, context: context)
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        timer?.cancel()
        timer = nil
        // Upgrading: what the client sent after the upgrade request goes on to the new handlers.
        for part in held { context.fireChannelRead(wrapInboundOut(part)) }
        held.removeAll()
        // A read held back for writability must not stall the upgraded connection.
        if pendingRead {
            pendingRead = false
            context.read()
        }
    }

    // MARK: Inbound

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if upgradeRequested, case .responding = phase {
            context.fireChannelRead(data)
            return
        }
        let part = unwrapInboundIn(data)
        if case .closing = phase { return }
        if !held.isEmpty || (isBetweenRequests && !context.channel.isWritable) {
            // The client is not reading its responses: hold the next request until it does.
            held.append(part)
            return
        }
        forward(part, context: context)
    }

    private var isBetweenRequests: Bool {
        if case .awaitingHead = phase { return true }
        return false
    }

    private func forward(_ part: HTTPServerRequestPart, context: ChannelHandlerContext) {
        switch part {
        case .head(let head):
            upgradeRequested = head.headers.contains(name: "upgrade")
            currentHead = head
            phase = .readingBody
            arm(timeouts.body, context: context)
        case .body:
            break
        case .end:
            phase = .responding
            currentHead = nil
            disarm()
        }
        context.fireChannelRead(wrapInboundOut(part))
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable {
            releaseHeld(context: context)
            if pendingRead, held.isEmpty {
                pendingRead = false
                context.read()
            }
        }
        context.fireChannelWritabilityChanged()
    }

    private func releaseHeld(context: ChannelHandlerContext) {
        while !held.isEmpty, context.channel.isWritable || !isBetweenRequests {
            let part = held.removeFirst()
            forward(part, context: context)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        if case .closing = phase { return }
        guard let parserError = error as? HTTPParserError else {
            context.fireErrorCaught(error)
            return
        }
        // Answer only when no response is under way (it would corrupt that response).
        guard isBetweenRequests || { if case .readingBody = phase { return true } else { return false } }() else {
            phase = .closing
            context.close(promise: nil)
            return
        }
        if case .headerOverflow = parserError {
            respondAndClose(.requestHeaderFieldsTooLarge, "request head too large\n", context: context)
        } else {
            respondAndClose(.badRequest, "malformed HTTP request: \(parserError)\n", context: context)
        }
    }

    // MARK: Outbound

    func read(context: ChannelHandlerContext) {
        guard context.channel.isWritable || !isBetweenRequests else {
            pendingRead = true
            return
        }
        context.read()
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head: responseInProgress = true
        case .end:
            responseInProgress = false
            upgradeRequested = false  // answered in HTTP: the upgrade did not happen
        case .body: break
        }
        if case .end = unwrapOutboundIn(data), case .responding = phase {
            phase = .awaitingHead(idle: true)
            arm(timeouts.keepAlive, context: context)
            context.write(data, promise: promise)
            if !held.isEmpty { releaseHeld(context: context) }
            return
        }
        context.write(data, promise: promise)
    }

    // MARK: Timers

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        timer?.cancel()
        timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [weak self] in
            self?.expired(context: context)
        }
    }

    private func disarm() {
        timer?.cancel()
        timer = nil
    }

    private func expired(context: ChannelHandlerContext) {
        switch phase {
        case .awaitingHead(idle: true):
            // An idle keep-alive connection: nothing to say.
            phase = .closing
            context.close(promise: nil)
        case .awaitingHead(idle: false):
            respondAndClose(.requestTimeout, "the request head did not arrive in time\n", context: context)
        case .readingBody:
            guard !responseInProgress else {
                // Something already answered (a 413 being drained): just end it.
                phase = .closing
                context.close(promise: nil)
                return
            }
            respondAndClose(.requestTimeout, "the request body did not arrive in time\n", context: context)
        case .responding, .closing:
            break
        }
    }

    private func respondAndClose(_ status: HTTPResponseStatus, _ message: String, context: ChannelHandlerContext) {
        requests?.refused(status, reason: message, head: currentHead, channel: context.channel)
        phase = .closing
        disarm()
        held.removeAll()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        headers.add(name: "Content-Length", value: String(message.utf8.count))
        headers.add(name: "Connection", value: "close")
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: status, headers: headers))), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: message)))), promise: nil)
        let flushed = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        LingeringClose.start(context: context, timeout: timeouts.linger, after: flushed)
    }
}

@available(*, unavailable)
extension HTTPConnectionGuard: Sendable {}
