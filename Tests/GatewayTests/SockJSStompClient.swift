import Foundation
import Hub
import NIOCore

/// STOMP over a SockJS xhr-polling session, for tests: frames go out through `xhr_send`,
/// and `next()` polls `xhr` until a frame (or the close frame) arrives.
struct SockJSStompClient {
    let port: Int
    let url: String
    private var parser = StompParser(version: .v1_2)
    private var pending: [StompFrame] = []
    private(set) var closeFrame: String?

    init(port: Int) {
        self.port = port
        self.url = "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
    }

    /// Opens the session (`o`).
    mutating func open() async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr")
    }

    func send(_ frame: StompFrame) async throws {
        let text = String(decoding: StompEncoder.encode(frame, version: .v1_2).readableBytesView, as: UTF8.self)
        let body = try JSONSerialization.data(withJSONObject: [text])
        let response = try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr_send", body: String(decoding: body, as: UTF8.self))
        guard response.status == 204 else { throw SockJSFailure(response: "xhr_send: \(response.status) \(response.body)") }
    }

    func send(_ command: StompCommand, _ headers: StompHeaders, body: String = "") async throws {
        try await send(StompFrame(command, headers: headers, body: ByteBuffer(string: body)))
    }

    /// The SockJS messages of one poll (nil once the session is closed).
    mutating func poll() async throws -> [String]? {
        let response = try await HTTPTestClient.request(port: port, method: "POST", path: url + "/xhr")
        let body = response.body.trimmingCharacters(in: .newlines)
        if body.hasPrefix("c") {
            closeFrame = body
            return nil
        }
        guard body.hasPrefix("a") else { return [] }
        let value = try JSONSerialization.jsonObject(with: Data(body.dropFirst().utf8))
        return value as? [String] ?? []
    }

    /// The next STOMP frame, nil once the session closed.
    mutating func next() async throws -> StompFrame? {
        while pending.isEmpty {
            guard let messages = try await poll() else { return nil }
            for message in messages {
                parser.append(message)
                while case .frame(let frame) = try parser.parseStep() { pending.append(frame) }
            }
        }
        return pending.removeFirst()
    }

    struct SockJSFailure: Error { var response: String }
}
