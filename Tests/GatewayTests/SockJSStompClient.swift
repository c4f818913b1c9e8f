import Foundation
import Hub
import NIOCore

/// STOMP over a SockJS session, for tests, on any receiving transport: frames go out through
/// `xhr_send` (or the SockJS WebSocket itself), and `next()` reads the transport's own framing
/// (polls, a stream's lines, EventSource events, htmlfile script calls, WebSocket messages)
/// until a STOMP frame or the SockJS close frame arrives.
struct SockJSStompClient {
    enum Receiving: String, CaseIterable, Sendable {
        case xhrPolling = "xhr"
        case jsonp = "jsonp?c=cb"
        case xhrStreaming = "xhr_streaming"
        case eventSource = "eventsource"
        case htmlFile = "htmlfile?c=cb"
        case webSocket = "websocket"
    }

    let port: Int
    let url: String
    let receiving: Receiving
    private var parser = StompParser(version: .v1_2)
    private var pending: [StompFrame] = []
    private var stream: RawWebSocketClient?
    /// Streaming transports: the raw (chunked) response so far, and how many SockJS frames of
    /// it were consumed.
    private var raw = ""
    private var consumed = 0
    private(set) var closeFrame: String?

    init(port: Int, receiving: Receiving = .xhrPolling) {
        self.port = port
        self.receiving = receiving
        self.url = "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// Opens the session; returns the HTTP answer of the opening request (for polling
    /// transports; streaming ones answer 200 and `o` arrives on the stream).
    @discardableResult
    mutating func open() async throws -> HTTPTestClient.Response {
        switch receiving {
        case .xhrPolling:
            return try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr")
        case .jsonp:
            return try await HTTPTestClient.request(port: port, method: "GET", path: url + "/jsonp?c=cb")
        case .webSocket:
            let (socket, head) = try await RawWebSocketClient.open(port: port, path: url + "/websocket")
            stream = socket
            _ = try await nextSockJSFrames()  // "o"
            return HTTPTestClient.Response(status: 101, head: head, body: "")
        case .xhrStreaming, .eventSource, .htmlFile:
            var socket = try await RawWebSocketClient.connect(port: port)
            let method = receiving == .xhrStreaming ? "POST" : "GET"
            let head = try await socket.request("\(method) \(url)/\(receiving.rawValue) HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            stream = socket
            let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
            if status == 200 { _ = try await nextSockJSFrames() }
            return HTTPTestClient.Response(status: status, head: head, body: "")
        }
    }

    func send(_ frame: StompFrame) async throws {
        try await sendText(String(decoding: StompEncoder.encode(frame, version: .v1_2).readableBytesView, as: UTF8.self))
    }

    func send(_ command: StompCommand, _ headers: StompHeaders, body: String = "") async throws {
        try await send(StompFrame(command, headers: headers, body: ByteBuffer(string: body)))
    }

    /// Sends one SockJS message.
    func sendText(_ text: String) async throws {
        let body = String(decoding: try JSONSerialization.data(withJSONObject: [text]), as: UTF8.self)
        if receiving == .webSocket, let stream {
            try await stream.send(.text, Array(body.utf8))
            return
        }
        let response = try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr_send", body: body)
        guard response.status == 204 else { throw SockJSFailure(response: "xhr_send: \(response.status) \(response.body)") }
    }

    /// The next STOMP frame, nil once the session closed.
    mutating func next() async throws -> StompFrame? {
        while pending.isEmpty {
            guard let messages = try await nextMessages() else { return nil }
            for message in messages {
                parser.append(message)
                while case .frame(let frame) = try parser.parseStep() { pending.append(frame) }
            }
        }
        return pending.removeFirst()
    }

    /// The messages of the next `a` frame ([] for `o`/`h`), nil after `c` or EOF.
    private mutating func nextMessages() async throws -> [String]? {
        // A close frame that came with the last messages ends the session now.
        guard closeFrame == nil else { return nil }
        while true {
            guard let frames = try await nextSockJSFrames() else { return nil }
            var messages: [String] = []
            for frame in frames {
                if frame.hasPrefix("c") {
                    closeFrame = frame
                    return messages.isEmpty ? nil : messages
                }
                guard frame.hasPrefix("a") else { continue }
                let value = try JSONSerialization.jsonObject(with: Data(frame.dropFirst().utf8))
                messages += value as? [String] ?? []
            }
            if !messages.isEmpty { return messages }
        }
    }

    /// The next SockJS frames as text (`o`, `h`, `a[...]`, `c[...]`), nil at EOF.
    private mutating func nextSockJSFrames() async throws -> [String]? {
        switch receiving {
        case .xhrPolling:
            let body = try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr").body
            return body.isEmpty ? nil : [body.trimmingCharacters(in: .newlines)]
        case .jsonp:
            let body = try await HTTPTestClient.request(port: port, method: "GET", path: url + "/jsonp?c=cb").body
            guard body.hasPrefix("/**/cb("), let end = body.range(of: ");", options: .backwards) else { return nil }
            let quoted = String(body[body.index(body.startIndex, offsetBy: 7)..<end.lowerBound])
            return [try Self.unquote(quoted)]
        case .webSocket:
            guard var socket = stream else { return nil }
            defer { stream = socket }
            while let frame = try await socket.nextFrame() {
                if frame.opcode == .close { return nil }
                if frame.opcode == .text { return [String(buffer: frame.payload)] }
            }
            return nil
        case .xhrStreaming, .eventSource, .htmlFile:
            while true {
                let frames = try streamedFrames()
                if frames.count > consumed {
                    let fresh = Array(frames[consumed...])
                    consumed = frames.count
                    return fresh
                }
                guard var socket = stream else { return nil }
                guard let chunk = try await socket.nextChunkPublic() else {
                    stream = socket
                    return nil
                }
                stream = socket
                raw += String(buffer: chunk)
            }
        }
    }

    /// Every SockJS frame in the streamed body so far, in this transport's framing.
    private func streamedFrames() throws -> [String] {
        let body = HTTPTestClient.dechunk(raw)
        switch receiving {
        case .xhrStreaming:
            let prelude = String(repeating: "h", count: 2048)
            return body.split(separator: "\n").map(String.init).filter { $0 != prelude }
        case .eventSource:
            // The prelude is a bare CRLF before the first event.
            return body.components(separatedBy: "\r\n\r\n").compactMap { event in
                let event = String(decoding: event.utf8.drop { $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }, as: UTF8.self)
                guard event.hasPrefix("data: ") else { return nil }
                return String(event.dropFirst(6)).removingPercentEncoding
            }
        case .htmlFile:
            return try body.components(separatedBy: "<script>\np(").dropFirst().compactMap { call in
                guard let end = call.range(of: ");\n</script>") else { return nil }
                return try Self.unquote(String(call[..<end.lowerBound]))
            }
        default:
            return []
        }
    }

    private static func unquote(_ quoted: String) throws -> String {
        let value = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: [.fragmentsAllowed])
        guard let text = value as? String else { throw SockJSFailure(response: "not a JSON string: \(quoted)") }
        return text
    }

    struct SockJSFailure: Error { var response: String }
}
