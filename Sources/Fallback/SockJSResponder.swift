#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOHTTP1

/// Writes SockJS HTTP answers with the headers the protocol asks of each kind: CORS naming the
/// origin the caller allowed (with credentials), no caching for session traffic, a year of caching for
/// the iframe page and preflights, and the `JSESSIONID` cookie when configured.
struct SockJSResponder {
    let channel: Channel
    let request: HTTPRequestHead
    let configuration: SockJSConfiguration
    /// The request's origin as the caller allowed it; nil when the request had none.
    let corsOrigin: String?

    /// HTTP/1.0 cannot chunk: a response of unknown length ends by closing the connection.
    var closeAfterEnd: Bool {
        !request.isKeepAlive || (request.version.major == 1 && request.version.minor == 0)
    }

    func respond(
        _ status: HTTPResponseStatus,
        contentType: String?,
        body: String,
        extra: HTTPHeaders = [:],
        cors: Bool = false,
        noCache: Bool = false,
        cookie: Bool = false,
        cacheForever: Bool = false
    ) {
        var headers = extra
        if let contentType { headers.add(name: "Content-Type", value: contentType) }
        if cors { addCORS(&headers) }
        if noCache { headers.add(name: "Cache-Control", value: "no-store, no-cache, no-transform, must-revalidate, max-age=0") }
        if cookie { addCookie(&headers) }
        if cacheForever { addCacheForever(&headers) }
        let keepAlive = request.isKeepAlive
        headers.add(name: "Content-Length", value: String(body.utf8.count))
        headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
        headers.add(name: "X-Content-Type-Options", value: "nosniff")
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: status, headers: headers)), promise: nil)
        if !body.isEmpty && request.method != .HEAD {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: body))), promise: nil)
        }
        let channel = self.channel
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }

    func methodNotAllowed(_ allowed: String) {
        respond(.methodNotAllowed, contentType: nil, body: "", extra: ["Allow": allowed])
    }

    /// A CORS preflight for a transport (cacheable for a year).
    func preflight(methods: String) {
        var extra: HTTPHeaders = ["Access-Control-Allow-Methods": methods, "Access-Control-Max-Age": "31536000"]
        if let requested = request.headers.first(name: "access-control-request-headers"), !requested.isEmpty {
            extra.add(name: "Access-Control-Allow-Headers", value: requested)
        }
        respond(.noContent, contentType: nil, body: "", extra: extra, cors: true, cookie: true, cacheForever: true)
    }

    /// A request for a WebSocket transport that was not a valid upgrade.
    func refuseWebSocket(_ head: HTTPRequestHead) {
        guard head.method == .GET else { return methodNotAllowed("GET") }
        guard configuration.websocket else {
            return respond(.notFound, contentType: "text/plain; charset=UTF-8", body: "WebSocket is disabled\n")
        }
        let upgrade = head.headers["upgrade"].joined(separator: ",").lowercased()
        if !upgrade.contains("websocket") {
            return respond(.badRequest, contentType: "text/plain; charset=UTF-8", body: "Can \"Upgrade\" only to \"WebSocket\".")
        }
        respond(.badRequest, contentType: "text/plain; charset=UTF-8", body: "\"Connection\" must be \"Upgrade\".")
    }

    /// Starts a receiving response: head and prelude; frames follow from the session.
    func startStream(kind: SockJSReceiverKind) {
        var headers: HTTPHeaders = ["Content-Type": kind.contentType]
        addCORS(&headers)
        headers.add(name: "Cache-Control", value: "no-store, no-cache, no-transform, must-revalidate, max-age=0")
        addCookie(&headers)
        if closeAfterEnd { headers.add(name: "Connection", value: "close") }
        channel.write(HTTPServerResponsePart.head(HTTPResponseHead(version: request.version, status: .ok, headers: headers)), promise: nil)
        if let prelude = kind.prelude {
            channel.write(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: prelude))), promise: nil)
        }
        channel.flush()
    }

    /// Ends a receiving response that got no frame.
    func endStream() {
        let channel = self.channel
        let close = closeAfterEnd
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if close { channel.close(promise: nil) }
        }
    }

    private func addCORS(_ headers: inout HTTPHeaders) {
        if let origin = corsOrigin, !origin.isEmpty {
            headers.add(name: "Access-Control-Allow-Origin", value: origin)
            headers.add(name: "Access-Control-Allow-Credentials", value: "true")
            headers.add(name: "Vary", value: "Origin")
        } else {
            headers.add(name: "Access-Control-Allow-Origin", value: "*")
        }
    }

    private func addCookie(_ headers: inout HTTPHeaders) {
        guard configuration.cookieNeeded else { return }
        var value = "dummy"
        for cookie in request.headers["cookie"].flatMap({ $0.split(separator: ";") }) {
            let parts = cookie.split(separator: "=", maxSplits: 1)
            if parts.count == 2, parts[0].trimmingCharacters(in: " ") == "JSESSIONID" {
                value = String(parts[1]).trimmingCharacters(in: " ")
            }
        }
        headers.add(name: "Set-Cookie", value: "JSESSIONID=\(value); path=/")
    }

    private func addCacheForever(_ headers: inout HTTPHeaders) {
        headers.add(name: "Cache-Control", value: "public, max-age=31536000")
        headers.add(name: "Expires", value: Self.httpDate(secondsFromNow: 31_536_000))
    }

    /// An RFC 7231 IMF-fixdate.
    static func httpDate(secondsFromNow: Int) -> String {
        var seconds = time_t(time(nil)) + time_t(secondsFromNow)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[Int(parts.tm_wday)]), \(two(parts.tm_mday)) \(months[Int(parts.tm_mon)]) \(parts.tm_year + 1900) "
            + "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) GMT"
    }
}

extension StringProtocol {
    func trimmingCharacters(in character: Character) -> String {
        var slice = Substring(self)
        while slice.first == character { slice.removeFirst() }
        while slice.last == character { slice.removeLast() }
        return String(slice)
    }
}
