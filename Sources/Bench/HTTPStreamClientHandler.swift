import NIOCore
import NIOHTTP1

/// The HTTP transports that receive over responses instead of a WebSocket.
enum HTTPStreamKind: Equatable {
    /// SockJS: `POST …/xhr_streaming` (a 2048-byte `h` prelude, then one frame per line).
    case sockjsXHRStreaming
    /// SockJS: `POST …/xhr`, one frame per response, polled again at once.
    case sockjsXHRPolling
    /// SockJS: `GET …/eventsource`, frames as `data:` lines.
    case sockjsEventSource
    /// nchan: `GET /sub/<channel>` with `Accept: text/event-stream`, bodies as `data:` lines.
    case nchanEventSource
    /// nchan: `GET /sub/<channel>` long-poll, one message per response, chained by
    /// `If-Modified-Since` / `If-None-Match` so none is skipped.
    case nchanLongPoll

    var isSockJS: Bool {
        switch self {
        case .sockjsXHRStreaming, .sockjsXHRPolling, .sockjsEventSource: true
        case .nchanEventSource, .nchanLongPoll: false
        }
    }

    var isEventSource: Bool { self == .sockjsEventSource || self == .nchanEventSource }
}

/// Receives SockJS or nchan messages over keep-alive HTTP responses, renewing the request whenever
/// a response ends (SockJS closes a streaming response after its byte limit; polls end per batch).
final class HTTPStreamClientHandler: ChannelInboundHandler, ClientTransport {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    private let logic: ClientLogic
    private let kind: HTTPStreamKind
    private let host: String
    /// The receiving URL path; for SockJS the session's base (`/stomp/<server>/<session>`).
    private let path: String
    private let connector: Connector
    private var context: ChannelHandlerContext?
    private var lines: ByteBuffer?
    private var scanned = 0
    private var scratch = ByteBufferAllocator().buffer(capacity: 512)
    private var opened = false
    private var finished = false
    private var status = 0
    private var lastModified: String?
    private var etag: String?
    private var pollBody: ByteBuffer?
    private static let maxLine = 4 << 20

    init(logic: ClientLogic, kind: HTTPStreamKind, host: String, path: String, connector: Connector) {
        self.logic = logic
        self.kind = kind
        self.host = host
        self.path = path
        self.connector = connector
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        if context.channel.isActive { sendRequest(context: context) }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    private var requested = false

    func channelActive(context: ChannelHandlerContext) {
        if !requested { sendRequest(context: context) }
        context.fireChannelActive()
    }

    private func sendRequest(context: ChannelHandlerContext) {
        requested = true
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        let method: HTTPMethod
        let uri: String
        switch kind {
        case .sockjsXHRStreaming:
            method = .POST
            uri = path + "/xhr_streaming"
            headers.add(name: "Content-Length", value: "0")
        case .sockjsXHRPolling:
            method = .POST
            uri = path + "/xhr"
            headers.add(name: "Content-Length", value: "0")
        case .sockjsEventSource:
            method = .GET
            uri = path + "/eventsource"
        case .nchanEventSource:
            method = .GET
            uri = path
            headers.add(name: "Accept", value: "text/event-stream")
        case .nchanLongPoll:
            method = .GET
            uri = path
            if let lastModified { headers.add(name: "If-Modified-Since", value: lastModified) }
            if let etag { headers.add(name: "If-None-Match", value: etag) }
        }
        let head = HTTPRequestHead(version: .http1_1, method: method, uri: uri, headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if kind == .nchanLongPoll && !opened {
            // nchan confirms nothing: a long-poll is established once it is asked; warm-up proves it.
            opened = true
            logic.transportOpened(self)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            if kind == .nchanLongPoll {
                if let value = head.headers.first(name: "Last-Modified") { lastModified = value }
                if let value = head.headers.first(name: "Etag") { etag = value }
                pollBody = nil
            }
            if status == 200 && kind == .nchanEventSource && !opened {
                opened = true
                logic.transportOpened(self)
            }
        case .body(let bytes):
            guard status == 200 else { return }
            if kind == .nchanLongPoll {
                if pollBody == nil {
                    pollBody = bytes
                } else {
                    var more = bytes
                    pollBody!.writeBuffer(&more)
                }
            } else {
                appendLines(bytes, context: context)
            }
        case .end:
            responseEnded(context: context)
        }
    }

    private func responseEnded(context: ChannelHandlerContext) {
        guard !finished else { return }
        switch (kind, status) {
        case (.nchanLongPoll, 200):
            if let body = pollBody { logic.transportReceived(body, now: MonotonicClock.nanoseconds()) }
            pollBody = nil
        case (.nchanLongPoll, 304), (.nchanLongPoll, 408):
            break  // poll timed out without a message: ask again
        case (_, 200):
            break
        default:
            fail(context: context, "HTTP \(status) on \(path)")
            return
        }
        lines = nil
        scanned = 0
        sendRequest(context: context)
    }

    private func appendLines(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        if var existing = lines, existing.readableBytes > 0 {
            lines = nil
            var bytes = bytes
            existing.writeBuffer(&bytes)
            lines = existing
        } else {
            lines = bytes
            scanned = 0
        }
        guard var buffer = lines else { return }
        let now = MonotonicClock.nanoseconds()
        while true {
            let newline: Int? = buffer.withUnsafeReadableBytes { raw in
                ByteScanning.index(of: UInt8(ascii: "\n"), in: raw, from: scanned, end: raw.count)
            }
            guard let newline else { break }
            let line = buffer.readSlice(length: newline) ?? ByteBuffer()
            buffer.moveReaderIndex(forwardBy: 1)
            scanned = 0
            handleLine(line, now: now, context: context)
            if finished { return }
        }
        scanned = buffer.readableBytes
        lines = buffer.readableBytes == 0 ? nil : buffer
        if buffer.readableBytes > Self.maxLine { fail(context: context, "line over \(Self.maxLine) bytes") }
    }

    private static let dataPrefix = Array("data:".utf8)

    private func handleLine(_ line: ByteBuffer, now: UInt64, context: ChannelHandlerContext) {
        var line = line
        if line.getInteger(at: line.writerIndex - 1, as: UInt8.self) == UInt8(ascii: "\r") {
            line.moveWriterIndex(to: line.writerIndex - 1)
        }
        if kind.isEventSource {
            let isData = line.withUnsafeReadableBytes { raw in
                raw.count >= 5 && raw.starts(with: Self.dataPrefix)
            }
            guard isData else { return }
            line.moveReaderIndex(forwardBy: 5)
            if line.getInteger(at: line.readerIndex, as: UInt8.self) == UInt8(ascii: " ") {
                line.moveReaderIndex(forwardBy: 1)
            }
        }
        if kind.isSockJS {
            handleSockJSFrame(line, now: now, context: context)
        } else {
            logic.transportReceived(line, now: now)
        }
    }

    private func handleSockJSFrame(_ frame: ByteBuffer, now: UInt64, context: ChannelHandlerContext) {
        guard let type = frame.getInteger(at: frame.readerIndex, as: UInt8.self) else { return }
        switch type {
        case UInt8(ascii: "o"):
            if !opened {
                opened = true
                logic.transportOpened(self)
            }
        case UInt8(ascii: "a"):
            frame.withUnsafeReadableBytes { raw in
                var index = 1
                while let quote = ByteScanning.index(of: UInt8(ascii: "\""), in: raw, from: index, end: raw.count) {
                    scratch.clear()
                    guard let after = JSONString.unescape(raw, from: quote + 1, end: raw.count, into: &scratch) else { break }
                    logic.transportReceived(scratch, now: now)
                    index = after
                }
            }
        case UInt8(ascii: "c"):
            let text = frame.getString(at: frame.readerIndex, length: min(frame.readableBytes, 200)) ?? "c"
            fail(context: context, "SockJS close \(text)")
        default:
            break  // "h" heart-beat and the xhr_streaming prelude
        }
    }

    /// STOMP frames go out through `xhr_send` on a connection of their own.
    func send(_ payload: ByteBuffer) {
        guard let context else { return }
        let loop = context.eventLoop
        let bound = NIOLoopBound(self, eventLoop: loop)
        SockJSSender.post(payload, path: path + "/xhr_send", connector: connector, loop: loop) { reason in
            loop.execute { bound.value.logic.transportFailed(reason) }
        }
    }

    private func fail(context: ChannelHandlerContext, _ reason: String) {
        guard !finished else { return }
        finished = true
        logic.transportFailed(reason)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        finished = true
        logic.transportClosed()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        fail(context: context, "\(error)")
    }
}
