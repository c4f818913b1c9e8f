import Gateway
import Hub
import NIOCore
import Testing

/// The SockJS endpoint at `/stomp` over real sockets: every URL of the protocol, and STOMP
/// through the polling and streaming transports into the same hub.
@Suite(.timeLimit(.minutes(1)))
struct SockJSEndpointTests {
    private func session() -> String { "/stomp/000/" + String(UInt64.random(in: 0...UInt64.max), radix: 36) }

    private func post(_ port: Int, _ path: String, _ body: String = "", headers: [String] = []) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.request(port: port, method: "POST", path: path, headers: headers, body: body)
    }

    private func get(_ port: Int, _ path: String, headers: [String] = []) async throws -> HTTPTestClient.Response {
        try await HTTPTestClient.request(port: port, method: "GET", path: path, headers: headers)
    }

    /// A SockJS string carrying a STOMP frame, as JSON.
    private func frame(_ command: StompCommand, _ headers: StompHeaders, body: String = "") -> String {
        let text = String(buffer: StompEncoder.encode(StompFrame(command, headers: headers, body: ByteBuffer(string: body)), version: .v1_2))
        return "[" + jsonString(text) + "]"
    }

    private func jsonString(_ text: String) -> String {
        var output = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\0": output += "\\u0000"
            default: output.unicodeScalars.append(scalar)
            }
        }
        return output + "\""
    }

    @Test func servesTheProtocolPages() async throws {
        // The pages below are asked for from a listed origin and from `null`.
        let origins = try OriginPolicy(allowing: ["http://example.test", "null"])
        try await withTestServer({ $0.origins = origins }) { server in
            let port = server.httpPort
            let greeting = try await get(port, "/stomp")
            #expect(greeting.status == 200)
            #expect(greeting.body == "Welcome to SockJS!\n")
            #expect(greeting.header("Content-Type") == "text/plain; charset=UTF-8")

            let info = try await get(port, "/stomp/info", headers: ["Origin: http://example.test"])
            #expect(info.status == 200)
            #expect(info.body.contains("\"websocket\":true"))
            #expect(info.body.contains("\"origins\":[\"*:*\"]"))
            #expect(info.body.contains("\"entropy\":"))
            #expect(info.header("Access-Control-Allow-Origin") == "http://example.test")
            #expect(info.header("Access-Control-Allow-Credentials") == "true")
            #expect(info.header("Cache-Control") == "no-store, no-cache, no-transform, must-revalidate, max-age=0")

            let iframe = try await get(port, "/stomp/iframe-1.6.1.html")
            #expect(iframe.status == 200)
            #expect(iframe.body.contains("SockJS.bootstrap_iframe();"))
            let etag = try #require(iframe.header("ETag"))
            #expect(iframe.header("Cache-Control") == "public, max-age=31536000")
            let cached = try await get(port, "/stomp/iframe.html", headers: ["If-None-Match: \(etag)"])
            #expect(cached.status == 304)
            #expect(cached.body.isEmpty)

            let preflight = try await HTTPTestClient.request(
                port: port, method: "OPTIONS", path: session() + "/xhr",
                headers: ["Origin: null", "Access-Control-Request-Method: POST", "Access-Control-Request-Headers: a, b"]
            )
            #expect(preflight.status == 204)
            #expect(preflight.header("Access-Control-Allow-Methods") == "OPTIONS, POST")
            #expect(preflight.header("Access-Control-Allow-Headers") == "a, b")
            #expect(preflight.header("Access-Control-Allow-Origin") == "null")
            #expect(preflight.header("Access-Control-Max-Age") == "31536000")

            #expect(try await get(port, "/stomp/a./b/xhr").status == 404)
            #expect(try await get(port, "/stomp/a/b").status == 404)
            #expect(try await get(port, session() + "/xhr").status == 405)
            let postedUpgrade = try await post(port, session() + "/websocket")
            #expect(postedUpgrade.status == 405)
            #expect(postedUpgrade.header("Allow") == "GET")
        }
    }

    @Test func answersSendErrorsExactly() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            let url = session()
            #expect(try await post(port, url + "/xhr_send", "[\"x\"]").status == 404)  // no such session
            #expect(try await post(port, url + "/xhr").body == "o\n")
            let broken = try await post(port, url + "/xhr_send", "[\"x")
            #expect(broken.status == 500)
            #expect(broken.body == "Broken JSON encoding.")
            let empty = try await post(port, url + "/xhr_send")
            #expect(empty.status == 500)
            #expect(empty.body == "Payload expected.")
            let missing = try await get(port, url + "/jsonp")
            #expect(missing.status == 500)
            #expect(missing.body == "\"callback\" parameter required")
            let invalid = try await get(port, url + "/htmlfile?c=alert(1)")
            #expect(invalid.status == 500)
            #expect(invalid.body == "invalid \"callback\" parameter")
        }
    }

    @Test func pollsOverJSONPAndSetsTheCookieWhenConfigured() async throws {
        try await withTestServer({ $0.sockJS.cookieNeeded = true }) { server in
            let port = server.httpPort
            let url = session()
            let open = try await get(port, url + "/jsonp?c=cb", headers: ["Cookie: JSESSIONID=abc123"])
            #expect(open.body == "/**/cb(\"o\");\r\n")
            #expect(open.header("Content-Type") == "application/javascript; charset=UTF-8")
            #expect(open.header("Set-Cookie") == "JSESSIONID=abc123; path=/")
            let connect = frame(.connect, ["accept-version": "1.2", "host": "h"])
            let form = "d=" + connect.utf8.map { byte -> String in
                let hex = String(byte, radix: 16, uppercase: true)
                return "%" + (hex.count == 1 ? "0" + hex : hex)
            }.joined()
            let sent = try await post(port, url + "/jsonp_send", form, headers: ["Content-Type: application/x-www-form-urlencoded"])
            #expect(sent.status == 200)
            #expect(sent.body == "ok")
            #expect(sent.header("Set-Cookie") == "JSESSIONID=dummy; path=/")
            let reply = try await get(port, url + "/jsonp?c=cb")
            #expect(reply.body.hasPrefix("/**/cb(\"a[\\\"CONNECTED"))
            let info = try await get(port, "/stomp/info")
            #expect(info.body.contains("\"cookie_needed\":true"))
            #expect(info.header("Set-Cookie") == nil)
        }
    }

    @Test func refusesASecondReceivingRequest() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            let url = session()
            #expect(try await post(port, url + "/xhr").body == "o\n")
            // Two polls at once: whichever attaches second is refused at once with 2010 (no
            // waiting for time); the other stays the session's, and a message reaches it.
            try await withThrowingTaskGroup(of: HTTPTestClient.Response.self) { group in
                for _ in 0..<2 { group.addTask { try await post(port, url + "/xhr") } }
                let second = try await group.next()
                #expect(second?.body == "c[2010,\"Another connection still open\"]\n")
                #expect(try await post(port, url + "/xhr_send", frame(.connect, ["accept-version": "1.2", "host": "h"])).status == 204)
                let first = try #require(try await group.next())
                #expect(first.body.hasPrefix("a[\"CONNECTED\\n"))
            }
        }
    }

    @Test func stompOverXhrPollingLosesNothingBetweenPolls() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            let url = session()
            #expect(try await post(port, url + "/xhr").body == "o\n")
            #expect(try await post(port, url + "/xhr_send", frame(.connect, ["accept-version": "1.2", "host": "h"])).status == 204)
            #expect(try await post(port, url + "/xhr").body.contains("CONNECTED"))
            #expect(try await post(port, url + "/xhr_send", frame(.subscribe, ["destination": "/topic/burst", "id": "1", "receipt": "r"])).status == 204)
            #expect(try await post(port, url + "/xhr").body.contains("RECEIPT"))

            // A burst of 1,000 messages from a TCP publisher while the poller is between polls.
            var publisher = try await StompTestClient.connect(GatewayServerHandle(httpPort: port, stompPort: server.stompPort), over: .tcp)
            for index in 0..<1_000 {
                try await publisher.send(.send, ["destination": "/topic/burst"], body: "n\(index)")
            }
            try await publisher.send(.send, ["destination": "/topic/other", "receipt": "done"])
            #expect(try await publisher.next()?.headers["receipt-id"] == "done")

            var bodies: [String] = []
            while bodies.count < 1_000 {
                let poll = try await post(port, url + "/xhr")
                var parser = StompParser(version: .v1_2)
                for text in try decodeArrayFrame(poll.body) {
                    parser.append(text)
                    while case .frame(let frame) = try parser.parseStep() { bodies.append(frame.bodyText) }
                }
            }
            #expect(bodies == (0..<1_000).map { "n\($0)" })
        }
    }

    @Test func streamsOverEventSourceAndHtmlFile() async throws {
        try await withTestServer { server in
            let port = server.httpPort
            for (transport, expectFrame) in [("eventsource", "data: o\r\n\r\n"), ("htmlfile?c=cb", "<script>\np(\"o\");\n</script>\r\n")] {
                let url = session()
                var stream = try await RawWebSocketClient.connect(port: port)
                let head = try await stream.request("GET \(url)/\(transport) HTTP/1.1\r\nHost: h\r\n\r\n")
                #expect(head.hasPrefix("HTTP/1.1 200"))
                var received = ""
                while !HTTPTestClient.dechunk(received).contains(expectFrame) {
                    guard let chunk = try await stream.nextChunkPublic() else { break }
                    received += String(buffer: chunk)
                }
                #expect(HTTPTestClient.dechunk(received).contains(expectFrame))
                #expect(try await post(port, url + "/xhr_send", frame(.connect, ["accept-version": "1.2", "host": "h"])).status == 204)
                while !HTTPTestClient.dechunk(received).contains("CONNECTED") {
                    guard let chunk = try await stream.nextChunkPublic() else { break }
                    received += String(buffer: chunk)
                }
                #expect(HTTPTestClient.dechunk(received).contains("CONNECTED"))
                await stream.close()
            }
        }
    }

    @Test func xhrStreamingEndsAtTheResponseLimit() async throws {
        try await withTestServer({ $0.sockJS.responseLimit = 4096 }) { server in
            let port = server.httpPort
            let url = session()
            var stream = try await RawWebSocketClient.connect(port: port)
            _ = try await stream.request("POST \(url)/xhr_streaming HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n")
            #expect(try await post(port, url + "/xhr_send", frame(.connect, ["accept-version": "1.2", "host": "h"])).status == 204)
            #expect(try await post(port, url + "/xhr_send", frame(.subscribe, ["destination": "/topic/big", "id": "1"])).status == 204)
            try await Task.sleep(for: .milliseconds(100))
            let published = try await HTTPTestClient.request(port: port, method: "POST", path: "/api/publish/topic/big", body: String(repeating: "x", count: 5000))
            #expect(published.body.contains("\"delivered\":1"))
            var received = ""
            while let chunk = try await stream.nextChunkPublic() {
                received += String(buffer: chunk)
                if received.hasSuffix("0\r\n\r\n") { break }  // the response ended: the limit
            }
            let body = HTTPTestClient.dechunk(received)
            #expect(body.hasPrefix(String(repeating: "h", count: 2048) + "\no\n"))
            #expect(body.contains(String(repeating: "x", count: 5000)))
            await stream.close()
        }
    }

    @Test func speaksSTOMPOverTheSockJSWebSocket() async throws {
        try await withTestServer { server in
            var (socket, _) = try await RawWebSocketClient.open(port: server.httpPort, path: session() + "/websocket")
            #expect(String(buffer: try #require(try await socket.nextFrame()).payload) == "o")
            try await socket.send(.text, Array(frame(.connect, ["accept-version": "1.2", "host": "h"]).utf8))
            let connected = String(buffer: try #require(try await socket.nextFrame()).payload)
            #expect(connected.hasPrefix("a[\"CONNECTED\\n"))
            // Broken JSON ends the session and the connection.
            try await socket.send(.text, Array("[\"broken".utf8))
            let close = try await socket.awaitClose()
            #expect(close?.tcpClosed == true)
        }
    }

    /// The draft-76 handshake HAProxy speaks, with key3 sent after the 101 or, as real clients
    /// do, in the same packet as the head (found by a review attack: that crashed the process;
    /// the bytes after the head must reach the draft-76 handler).
    @Test(arguments: [false, true])
    func acceptsTheDraft76HandshakeThatHAProxySpeaks(key3WithHead: Bool) async throws {
        try await withTestServer { server in
            var client = try await RawWebSocketClient.connect(port: server.httpPort)
            let path = session() + "/websocket"
            let key3 = "Tm[K T2u"
            let head = try await client.request(
                "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\n"
                    + "Origin: http://127.0.0.1\r\nSec-WebSocket-Key1: 18x 6]8vM;54 *(5:  {   U1]8  z [  8\r\n"
                    + "Sec-WebSocket-Key2: 1_ tx7X d  <  nw  334J702) 7]o}` 0\r\n\r\n" + (key3WithHead ? key3 : "")
            )
            #expect(head.hasPrefix("HTTP/1.1 101"))
            #expect(head.contains("Sec-WebSocket-Location: ws://127.0.0.1\(path)"))
            if !key3WithHead { try await client.send(ByteBuffer(string: key3)) }
            var received: [UInt8] = []
            while received.count < 19, let chunk = try await client.nextChunkPublic() {
                received += Array(chunk.readableBytesView)
            }
            #expect(Array(received.prefix(16)) == Array("fQJ,fN/4F4!~K~MH".utf8))
            #expect(Array(received.dropFirst(16).prefix(3)) == [0x00, UInt8(ascii: "o"), 0xFF])
            await client.close()
            // The server is alive.
            #expect(try await HTTPTestClient.request(port: server.httpPort, method: "GET", path: "/stomp/info").status == 200)
        }
    }

    /// The strings of an `a[...]` polling frame.
    private func decodeArrayFrame(_ body: String) throws -> [String] {
        guard body.hasPrefix("a[") else { return [] }
        var strings: [String] = []
        var current = ""
        var inString = false
        var iterator = body.dropFirst(2).unicodeScalars.makeIterator()
        while let scalar = iterator.next() {
            if !inString {
                if scalar == "\"" { inString = true; current = "" }
                continue
            }
            switch scalar {
            case "\"":
                inString = false
                strings.append(current)
            case "\\":
                guard let escaped = iterator.next() else { break }
                switch escaped {
                case "n": current += "\n"
                case "r": current += "\r"
                case "t": current += "\t"
                case "u":
                    var hex = ""
                    for _ in 0..<4 { if let digit = iterator.next() { hex.unicodeScalars.append(digit) } }
                    if let value = UInt32(hex, radix: 16), let decoded = Unicode.Scalar(value) { current.unicodeScalars.append(decoded) }
                default: current.unicodeScalars.append(escaped)
                }
            default:
                current.unicodeScalars.append(scalar)
            }
        }
        return strings
    }
}
