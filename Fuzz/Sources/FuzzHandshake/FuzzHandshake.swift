import FuzzSupport
import NIOCore
import NIOEmbedded
import NIOHTTP1
@testable import WebSocket

// Input: [mode] [endpoint options] [split seed] then a payload that `mode` reads as:
//   0: a request built field by field: a line with the method, one with the URI, one with the
//      HTTP version ("1.1"), then "name:value" header lines (any bytes, but names keep only
//      their ASCII, as NIO requires; newline-separated);
//   1: raw bytes on the wire, through NIO's HTTP request decoder on an EmbeddedChannel;
//   2, 3: the bytes a draft-76 client sends after its headers (key3, then frames), through
//      `Hixie76Handler` on an EmbeddedChannel; the low nibble of the options byte sets the
//      largest message (2^(4+n)).
// endpoint options (modes 0, 1): bit 0 accepts draft-76; bits 1-2 the subprotocol choice
// (none, the first offered, "stomp" whether offered or not, reject); bit 3 permessage-deflate
// off; bit 4 server_no_context_takeover forced; bit 5 client_max_window_bits=10 wanted.
//
// Asserts: `WebSocketHandshake.negotiate` never crashes and fails only with a 4xx status; on
// success the accept value is base64(SHA-1(key + GUID)), the subprotocol was offered, the
// extension response is a well-formed permessage-deflate offer within RFC 7692's bounds,
// draft-76 is chosen only where enabled, and no response header carries CR, LF or NUL unless
// the request did. `Hixie76Handshake.number(fromKey:)` agrees with the draft's arithmetic on
// every header value. `Hixie76Handler` delivers only UTF-8 messages within the size limit and
// examines each byte it receives at most once.

private struct EndpointOptions {
    var bits: UInt8

    var endpoint: WebSocketEndpoint {
        var configuration = WebSocketConfiguration()
        configuration.deflate.isEnabled = bits & 8 == 0
        configuration.deflate.serverNoContextTakeover = bits & 16 != 0
        configuration.deflate.clientMaxWindowBits = bits & 32 != 0 ? 10 : nil
        let choice = (bits >> 1) & 3
        var endpoint = WebSocketEndpoint(
            configuration: configuration,
            selectSubprotocol: { offered, _ in
                switch choice {
                case 0: return .none
                case 1: return offered.first.map(WebSocketEndpoint.SubprotocolChoice.accept) ?? .none
                case 2: return .accept("stomp")
                default: return .reject
                }
            },
            makeApplication: { _, _ in fuzzFailure("the handshake is not carried out here") }
        )
        endpoint.acceptsHixie76 = bits & 1 != 0
        return endpoint
    }
}

private func hasLineBreakOrNUL(_ text: String) -> Bool {
    text.utf8.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
}

/// Negotiates `head` and checks the outcome.
private func negotiate(_ head: HTTPRequestHead, _ options: EndpointOptions) {
    for (_, value) in head.headers { checkKeyNumber(value) }
    let endpoint = options.endpoint
    let result: WebSocketHandshakeResult
    do {
        result = try WebSocketHandshake.negotiate(head, endpoint: endpoint)
    } catch {
        fuzzCheck((400..<500).contains(error.status.code), "handshake failed with \(error.status.code): \(error)")
        return
    }
    let requestIsClean = !hasLineBreakOrNUL(head.uri) && !head.headers.contains { hasLineBreakOrNUL($0.name) || hasLineBreakOrNUL($0.value) }
    if requestIsClean {
        for (name, value) in result.responseHeaders {
            fuzzCheck(!hasLineBreakOrNUL(name) && !hasLineBreakOrNUL(value), "response header \(name) carries a line break")
        }
    }
    if result.hixie76Numbers != nil {
        fuzzCheck(endpoint.acceptsHixie76 && Hixie76Handshake.isHixie76(head), "draft-76 chosen where not enabled")
        return
    }
    let key = head.headers.first(name: "sec-websocket-key")?.trimmingSpaces ?? ""
    fuzzCheck(WebSocketHandshake.isValidKey(key), "accepted key \(key.debugDescription)")
    let accept = result.responseHeaders["Sec-WebSocket-Accept"]
    fuzzCheck(accept == [WebSocketHandshake.acceptValue(forKey: key)] && accept.first?.utf8.count == 28, "accept value \(accept)")

    let offered = head.headers["sec-websocket-protocol"].flatMap { $0.split(separator: ",") }.map { String($0).trimmingSpaces }
    if let subprotocol = result.subprotocol {
        fuzzCheck(offered.contains(subprotocol) && !subprotocol.isEmpty, "subprotocol \(subprotocol) was not offered")
        fuzzCheck(result.responseHeaders["Sec-WebSocket-Protocol"] == [subprotocol], "subprotocol header differs")
    } else {
        fuzzCheck(!result.responseHeaders.contains(name: "Sec-WebSocket-Protocol"), "subprotocol header without a subprotocol")
    }

    if let deflate = result.deflate {
        fuzzCheck(endpoint.configuration.deflate.isEnabled, "permessage-deflate negotiated while disabled")
        fuzzCheck((8...15).contains(deflate.serverMaxWindowBits) && (8...15).contains(deflate.clientMaxWindowBits), "window bits out of range")
        let response = result.responseHeaders["Sec-WebSocket-Extensions"]
        guard let offers = WebSocketExtensionOffer.parse(response), offers.count == 1,
            offers[0].name == PerMessageDeflateNegotiation.extensionName
        else { fuzzFailure("extension response \(response) does not parse") }
    } else {
        fuzzCheck(!result.responseHeaders.contains(name: "Sec-WebSocket-Extensions"), "extension header without deflate")
    }
}

/// The draft's arithmetic, written out: the key's digits as one number, divided by its spaces
/// (1...12 spaces, a quotient that fits 32 bits, no remainder).
private func checkKeyNumber(_ key: String) {
    var digits: UInt64 = 0
    var spaces: UInt64 = 0
    var overflow = false
    var sawDigit = false
    for byte in key.utf8 {
        if byte == UInt8(ascii: " ") { spaces += 1 }
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { continue }
        sawDigit = true
        let (times10, o1) = digits.multipliedReportingOverflow(by: 10)
        let (sum, o2) = times10.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
        overflow = overflow || o1 || o2
        digits = sum
    }
    let bound = UInt64(UInt32.max) * 12
    let valid = sawDigit && !overflow && digits <= bound && spaces > 0 && digits % spaces == 0 && digits / spaces <= UInt64(UInt32.max)
    let expected = valid ? UInt32(digits / spaces) : nil
    let number = Hixie76Handshake.number(fromKey: key)
    fuzzCheck(number == expected, "number(fromKey: \(key.debugDescription)) is \(String(describing: number)), expected \(String(describing: expected))")
}

/// Mode 0: method, URI and version lines, then header lines.
private func structuredRequest(_ payload: ArraySlice<UInt8>) -> HTTPRequestHead {
    var lines = payload.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
    func next() -> String { lines.isEmpty ? "" : lines.removeFirst() }
    let method = HTTPMethod(rawValue: next())
    let uri = next()
    // Single digits, as NIO's decoder produces (HTTPVersion traps on numbers past UInt16).
    let versionText = next().split(separator: ".").compactMap { UInt8($0) }.filter { $0 < 10 }
    let version = versionText.count == 2 ? HTTPVersion(major: Int(versionText[0]), minor: Int(versionText[1])) : .http1_1
    var headers = HTTPHeaders()
    for line in lines {
        let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        // NIO requires ASCII names (its decoder never produces others); values may be anything.
        let name = String(String.UnicodeScalarView(parts[0].unicodeScalars.filter(\.isASCII)))
        headers.add(name: name, value: parts.count > 1 ? String(parts[1]) : "")
    }
    return HTTPRequestHead(version: version, method: method, uri: uri, headers: headers)
}

/// Mode 1: raw bytes through NIO's decoder; every request head it produces is negotiated.
private func decodeRequests(_ pieces: [ArraySlice<UInt8>], _ options: EndpointOptions) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(HTTPRequestDecoder(leftOverBytesStrategy: .dropBytes)))
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    for piece in pieces {
        do {
            try channel.writeInbound(ByteBuffer(bytes: piece))
        } catch {
            return  // not HTTP: NIO's decoder refuses it before Perigee sees anything
        }
        while let part = try? channel.readInbound(as: HTTPServerRequestPart.self) {
            if case .head(let head) = part { negotiate(head, options) }
        }
    }
}

private final class Recorder: WebSocketApplication {
    var received: [WebSocketMessage] = []
    func webSocket(_ socket: any WebSocketConnection, didReceive message: WebSocketMessage) {
        received.append(message)
    }
}

/// Modes 2, 3: a draft-76 connection after its 101.
private func driveHixie76(_ pieces: [ArraySlice<UInt8>], maxMessageSize: Int) {
    let recorder = Recorder()
    let handshake = WebSocketHandshakeResult(
        request: HTTPRequestHead(version: .http1_1, method: .GET, uri: "/"), subprotocol: nil, deflate: nil, responseHeaders: [:]
    )
    let handler = Hixie76Handler(handshake: handshake, numbers: (155_712_099, 173_347_027), maxMessageSize: maxMessageSize, application: recorder)
    let channel = EmbeddedChannel()
    defer { _ = try? channel.finish(acceptAlreadyClosed: true) }
    guard (try? channel.pipeline.syncOperations.addHandler(handler)) != nil else { fuzzFailure("cannot add the handler") }
    var fed = 0
    for piece in pieces {
        fed += piece.count
        guard (try? channel.writeInbound(ByteBuffer(bytes: piece))) != nil else { break }
    }
    fuzzCheck(handler.scannedBytes <= fed, "scanned \(handler.scannedBytes) bytes of \(fed)")
    for message in recorder.received {
        fuzzCheck(message.data.readableBytes <= maxMessageSize, "a \(message.data.readableBytes)-byte message over the \(maxMessageSize) limit")
        fuzzCheck(String(validating: message.data.readableBytesView, as: UTF8.self) != nil, "message is not UTF-8")
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let mode = input.byte() & 3
    let options = EndpointOptions(bits: input.byte())
    let splitSeed = input.byte()
    let payload = input.rest()
    switch mode {
    case 0:
        negotiate(structuredRequest(payload), options)
    case 1:
        decodeRequests(chunks(of: payload, seed: splitSeed), options)
    default:
        driveHixie76(chunks(of: payload, seed: splitSeed), maxMessageSize: 1 << (4 + Int(options.bits & 0x0F)))
    }
    return 0
}

runLibFuzzer(fuzz)
