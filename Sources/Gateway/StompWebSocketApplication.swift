import Hub
import NIOCore
import WebSocket

/// STOMP over WebSocket: each WebSocket message carries STOMP bytes (usually one frame), and
/// each outgoing frame is one message — text when it is UTF-8, binary otherwise.
final class StompWebSocketApplication: WebSocketApplication, StompTransport {
    private let hub: Hub
    private var client: ClientContext?
    private let compressors: WebSocketCompressorPool
    private let loop: EventLoop
    private var connection: StompConnection?
    private weak var socket: (any WebSocketConnection)?

    /// - Parameter client: the handshake's details for the gatekeeper (nil when it reads none).
    init(hub: Hub, client: ClientContext?, compressors: WebSocketCompressorPool, loop: EventLoop) {
        self.hub = hub
        self.client = client
        self.compressors = compressors
        self.loop = loop
    }

    func webSocketDidOpen(_ socket: any WebSocketConnection) {
        self.socket = socket
        guard let loop = socket.channel?.eventLoop else { return }
        let label = StompConnectionLabel(transport: "websocket", address: socket.channel?.remoteAddress.map(StompTCPHandler.describe))
        connection = StompConnection(hub: hub, eventLoop: loop, transport: self, client: client, label: label)
        client = nil
        if connection == nil { socket.close(code: .internalError, reason: "no hub shard for this event loop") }
    }

    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        connection?.receive(message.data)
    }

    func webSocketWritabilityChanged(_ socket: any WebSocketConnection) {
        connection?.writabilityChanged()
    }

    func webSocket(_ socket: any WebSocketConnection, didFail error: WebSocketError) {
        connection?.transportFailed("websocket close \(error.closeCode.rawValue): \(error.reason)", limit: error.limit)
    }

    func webSocketDidClose(_ socket: any WebSocketConnection, code: WebSocketCloseCode?) {
        connection?.transportClosed()
        connection = nil
    }

    // MARK: StompTransport

    func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) {
        guard let socket else { return }
        let message = WebSocketMessage(kind: isText ? .text : .binary, data: bytes)
        guard let shared else {
            // A frame of this session's own (CONNECTED, RECEIPT, ERROR). Without context
            // takeover it is compressed by the loop's shared compressor too: a connection then
            // never holds zlib state of its own (~100 KiB resident once used).
            if let bits = socket.handshake.deflate?.sharingWindowBits, let compressor = compressors.compressor(on: loop) {
                var outbound = WebSocketOutboundMessage(message)
                compressor.prepare(&outbound, windowBits: bits)
                socket.send(outbound)
            } else {
                socket.send(message)
            }
            return
        }
        // A fan-out frame: framed once, and compressed once for every connection that shares
        // our deflate parameters without context takeover (see WebSocketOutboundMessage).
        let prepared: PreparedMessage
        if let cached = shared.transportCache as? PreparedMessage {
            prepared = cached
        } else {
            prepared = PreparedMessage(WebSocketOutboundMessage(message))
            shared.transportCache = prepared
        }
        let sharingBits = socket.handshake.deflate?.sharingWindowBits
        if let bits = sharingBits, prepared.outbound.compressed[bits] == nil, let compressor = compressors.compressor(on: loop) {
            compressor.prepare(&prepared.outbound, windowBits: bits)  // left alone under the threshold
        }
        if prepared.outbound.frame == nil, sharingBits.map({ prepared.outbound.compressed[$0] == nil }) ?? true {
            prepared.outbound.prepareFrame()
        }
        socket.send(prepared.outbound)
    }

    func flush() {
        socket?.flush()
    }

    var isWritable: Bool { socket?.isWritable ?? false }

    var carriesTextOnly: Bool { false }

    /// The WebSocket closing handshake already drains input until the peer's close frame or
    /// the close timeout (RFC 6455 §7.1.1), which is the lingering close an ERROR needs.
    func close(afterError: Bool) {
        socket?.flush()
        socket?.close(code: .normalClosure, reason: "")
    }

    /// ERROR `server shutting down`, then close 1001 "going away" (RFC 6455 §7.4.1).
    func goAway(farewell: ByteBuffer) {
        guard let socket else { return }
        socket.send(WebSocketMessage(kind: .text, data: farewell))
        socket.flush()
        socket.close(code: .goingAway, reason: "server shutting down")
    }

    func abort(farewell: ByteBuffer) {
        guard let socket else { return }
        socket.send(WebSocketMessage(kind: .text, data: farewell))
        socket.flush()
        socket.channel?.close(promise: nil)
    }
}

@available(*, unavailable)
extension StompWebSocketApplication: Sendable {}

/// Holds a prepared message in a `SharedFrame`.
private final class PreparedMessage {
    var outbound: WebSocketOutboundMessage

    init(_ outbound: WebSocketOutboundMessage) { self.outbound = outbound }
}
