import NIOCore

/// One-shot HTTP/1.1 requests over a raw socket, for the publish API tests.
enum HTTPTestClient {
    struct Response {
        var status: Int
        var head: String
        var body: String
    }

    static func request(port: Int, method: String, path: String, headers: [String] = [], body: String = "") async throws -> Response {
        var client = try await RawWebSocketClient.connect(port: port)
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1", "Connection: close", "Content-Length: \(body.utf8.count)"]
        lines += headers
        let head = try await client.request(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
        let rest = try await client.readToEnd()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        return Response(status: status, head: head, body: rest)
    }
}
