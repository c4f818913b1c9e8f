import COpenSSL
import NIOCore
import NIOHTTP1

/// The outcome of a successful opening handshake.
public struct WebSocketHandshakeResult: Sendable {
    /// The request that was upgraded (path, headers such as cookies and Origin).
    public var request: HTTPRequestHead
    /// The subprotocol the server selected, if any.
    public var subprotocol: String?
    /// permessage-deflate parameters, when it was negotiated.
    public var deflate: PerMessageDeflateParameters?
    /// Headers for the 101 response besides `Upgrade` and `Connection`.
    public var responseHeaders: HTTPHeaders
    /// The two key numbers of a draft-76 handshake; nil for RFC 6455.
    public var hixie76Numbers: (UInt32, UInt32)?

    /// Drops the request's headers and the response headers (kept: the request line).
    mutating func releaseHeaders() {
        request = HTTPRequestHead(version: request.version, method: request.method, uri: "")
        responseHeaders = HTTPHeaders()
    }
}

/// The server side of the RFC 6455 §4.2 opening handshake, as a pure function of the request.
public enum WebSocketHandshake {
    /// RFC 6455 §1.3.
    static let guid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

    /// `base64(SHA-1(key + GUID))` (§4.2.2 step 5.4), with libcrypto's SHA-1 and base64.
    public static func acceptValue(forKey key: String) -> String {
        var input = Array((key + guid).utf8)
        var digest = [UInt8](repeating: 0, count: Int(SHA_DIGEST_LENGTH))
        _ = SHA1(&input, input.count, &digest)
        var encoded = [UInt8](repeating: 0, count: 29)  // 4 * ceil(20 / 3) + NUL
        let length = EVP_EncodeBlock(&encoded, digest, Int32(digest.count))
        return String(decoding: encoded.prefix(Int(length)), as: UTF8.self)
    }

    /// Whether the request asks for a WebSocket upgrade at all (so that a failed handshake can
    /// be answered as such rather than as a plain HTTP request).
    public static func isUpgradeRequest(_ head: HTTPRequestHead) -> Bool {
        headerTokens(head.headers, "upgrade").contains("websocket")
    }

    /// Validates a request and negotiates subprotocol and extensions for `endpoint`.
    public static func negotiate(
        _ head: HTTPRequestHead,
        endpoint: WebSocketEndpoint
    ) throws(WebSocketHandshakeError) -> WebSocketHandshakeResult {
        guard head.method == .GET else { throw .methodNotGet(head.method.rawValue) }
        guard head.version.major > 1 || (head.version.major == 1 && head.version.minor >= 1) else { throw .httpVersionTooOld }
        guard head.headers.contains(name: "host") else { throw .missingHost }
        guard headerTokens(head.headers, "upgrade").contains("websocket") else { throw .missingUpgrade }
        guard headerTokens(head.headers, "connection").contains("upgrade") else { throw .missingConnectionUpgrade }
        if endpoint.acceptsHixie76 && Hixie76Handshake.isHixie76(head) {
            return try negotiateHixie76(head, endpoint: endpoint)
        }
        let versions = head.headers["sec-websocket-version"]
        guard versions.count == 1, versions[0].trimmingSpaces == "13" else {
            throw .unsupportedVersion(versions.first)
        }
        let keys = head.headers["sec-websocket-key"]
        guard let rawKey = keys.first else { throw .missingKey }
        let key = rawKey.trimmingSpaces
        guard keys.count == 1, isValidKey(key) else { throw .malformedKey }

        let origin = head.headers.first(name: "origin")
        guard endpoint.acceptOrigin(origin) else { throw .originRejected(origin) }

        var headers = HTTPHeaders()
        headers.add(name: "Sec-WebSocket-Accept", value: acceptValue(forKey: key))

        let offered = head.headers["sec-websocket-protocol"]
            .flatMap { $0.split(separator: ",") }
            .map { String($0).trimmingSpaces }
            .filter { !$0.isEmpty }
        var subprotocol: String?
        switch endpoint.selectSubprotocol(offered, head) {
        case .accept(let chosen) where offered.contains(chosen):
            subprotocol = chosen
            headers.add(name: "Sec-WebSocket-Protocol", value: chosen)
        case .accept, .none:
            break
        case .reject:
            throw .subprotocolRequired
        }

        var deflate: PerMessageDeflateParameters?
        // Unparseable extension headers are ignored, not fatal: the client can still talk
        // without extensions, which is what declining means (RFC 6455 §9.1).
        if let offers = WebSocketExtensionOffer.parse(head.headers["sec-websocket-extensions"]) {
            deflate = PerMessageDeflateNegotiation.negotiate(offers: offers, configuration: endpoint.configuration.deflate)
            if let deflate {
                headers.add(name: "Sec-WebSocket-Extensions", value: deflate.responseHeaderValue)
            }
        }
        return WebSocketHandshakeResult(request: head, subprotocol: subprotocol, deflate: deflate, responseHeaders: headers)
    }

    private static func negotiateHixie76(_ head: HTTPRequestHead, endpoint: WebSocketEndpoint) throws(WebSocketHandshakeError) -> WebSocketHandshakeResult {
        guard let key1 = head.headers.first(name: "sec-websocket-key1").flatMap(Hixie76Handshake.number(fromKey:)),
            let key2 = head.headers.first(name: "sec-websocket-key2").flatMap(Hixie76Handshake.number(fromKey:)),
            let host = head.headers.first(name: "host")
        else { throw .malformedKey }
        let origin = head.headers.first(name: "origin")
        guard endpoint.acceptOrigin(origin) else { throw .originRejected(origin) }
        var headers = HTTPHeaders()
        if let origin { headers.add(name: "Sec-WebSocket-Origin", value: origin) }
        headers.add(name: "Sec-WebSocket-Location", value: "ws://\(host)\(head.uri)")
        return WebSocketHandshakeResult(request: head, subprotocol: nil, deflate: nil, responseHeaders: headers, hixie76Numbers: (key1, key2))
    }

    /// §4.1: the key is 16 random bytes, base64-encoded — always 24 characters ending in "==".
    static func isValidKey(_ key: String) -> Bool {
        let bytes = Array(key.utf8)
        guard bytes.count == 24, bytes[22] == UInt8(ascii: "="), bytes[23] == UInt8(ascii: "=") else { return false }
        var decoded = [UInt8](repeating: 0, count: 18)
        // EVP_DecodeBlock returns the length including padding bytes, or -1 on a bad character.
        let length = EVP_DecodeBlock(&decoded, bytes, Int32(bytes.count))
        // The last significant character carries 2 bits; the 4 unused ones must be zero.
        guard length == 18, let last = base64Value(bytes[21]) else { return false }
        return last & 0x0F == 0
    }

    private static func base64Value(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }

    /// Comma-separated tokens of a header, lowercased (header names are case-insensitive and so
    /// are these tokens, RFC 6455 §4.2.1).
    static func headerTokens(_ headers: HTTPHeaders, _ name: String) -> [String] {
        headers[name].flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces.lowercased() }
    }
}

extension String {
    var trimmingSpaces: String {
        var scalars = Substring(self)
        while let first = scalars.first, first == " " || first == "\t" { scalars.removeFirst() }
        while let last = scalars.last, last == " " || last == "\t" { scalars.removeLast() }
        return String(scalars)
    }
}
