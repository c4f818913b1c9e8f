import NIOCore

/// One-shot HTTP/1.1 requests over a raw socket, for the publish API and SockJS tests.
enum HTTPTestClient {
    struct Response {
        var status: Int
        var head: String
        var body: String

        /// A response header's value (case-insensitive name).
        func header(_ name: String) -> String? {
            for line in head.split(separator: "\r\n").dropFirst() {
                let parts = line.split(separator: ":", maxSplits: 1)
                if parts.count == 2, parts[0].lowercased() == name.lowercased() {
                    return parts[1].trimmingCharacters(in: .whitespaces)
                }
            }
            return nil
        }
    }

    static func request(port: Int, method: String, path: String, headers: [String] = [], body: String = "") async throws -> Response {
        var client = try await RawWebSocketClient.connect(port: port)
        var lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1", "Connection: close", "Content-Length: \(body.utf8.count)"]
        lines += headers
        let head = try await client.request(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
        let rest = try await client.readToEnd()
        let status = Int(head.split(separator: " ").dropFirst().first ?? "") ?? 0
        let chunked = head.lowercased().contains("transfer-encoding: chunked")
        return Response(status: status, head: head, body: chunked ? dechunk(rest) : rest)
    }

    /// The payload of a chunked body (RFC 9112 §7.1), ignoring extensions and trailers.
    static func dechunk(_ text: String) -> String {
        var bytes = Array(text.utf8)[...]
        var output: [UInt8] = []
        while let lineEnd = bytes.firstRange(of: Array("\r\n".utf8)) {
            let sizeText = String(decoding: bytes[bytes.startIndex..<lineEnd.lowerBound], as: UTF8.self)
            guard let size = Int(sizeText.split(separator: ";").first ?? "", radix: 16), size > 0 else { break }
            let start = lineEnd.upperBound
            guard bytes.distance(from: start, to: bytes.endIndex) >= size else { break }
            output += bytes[start..<(start + size)]
            bytes = bytes[(start + size)...].dropFirst(2)
        }
        return String(decoding: output, as: UTF8.self)
    }
}

extension Character {
    static let whitespaces: Set<Character> = [" ", "\t"]
}

extension Substring {
    func trimmingCharacters(in set: Set<Character>) -> String {
        var slice = self
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
    }
}
