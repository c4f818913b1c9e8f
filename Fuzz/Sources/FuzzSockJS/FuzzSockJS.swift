import Fallback
import Foundation
import FuzzSupport

// Input: [close code] then a callback name, a newline, and a body as a client would POST it to
// `xhr_send` / `jsonp_send`.
//
// Asserts:
// - `SockJSJSON.decodeMessages` never crashes; what it returns survives quoting.
// - `SockJSJSON.quote(x)`, read back by Foundation's JSON parser, is exactly `x` (scalar by
//   scalar), and holds no raw character SockJS lists as unsafe (controls, U+2028/9, …).
// - Each receiving transport's `wrap` of an open, heartbeat, messages and close frame has the
//   transport's exact framing around the frame, and the frame reads back from it: xhr and
//   xhr-streaming a line; eventsource one `data:` line whose every `%` is the escape `%25`;
//   htmlfile a script calling `p("…")`; jsonp `/**/callback("…");`.
// - Callback names accepted by `isValidCallback` hold only letters, digits, `-`, `_`, `.`.
// - With `expectsHTMLEscaping` / `expectsJSONPEscaping`: htmlfile / jsonp output carries no `<`,
//   `>` or `&` from the message (they come out as `\u003c`, `\u003e`, `\u0026`), so no
//   `</script` either.

/// Issue 7, fault 3 (stored XSS over htmlfile): `<`, `>` and `&` never appear raw.
private let expectsHTMLEscaping = true
/// The same property for jsonp responses (served as JavaScript, but loaded by a `<script>`).
private let expectsJSONPEscaping = true
/// A fault this target found, now fixed (kept as a switch for bisecting): eventsource's `%` →
/// `%25` escaping split the frame at `%` *characters*, so a `%` followed by a combining mark that
/// `quote` leaves raw (U+08CA, say) formed one grapheme with it and stayed unescaped;
/// sockjs-client's decodeURI then threw on it. Input `00 63 0a 5b 22 25 e0 a3 8a 22 5d`.
private let skipsPercentInGrapheme = false

/// Scalars that `quote` must never leave raw (SockJS protocol 0.3, "unicode" escaping).
private func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x00...0x1F, 0x7F...0x9F, 0x2028, 0x2029, 0xFEFF, 0xFFF0...0xFFFF, 0x10000...: return true
    default: return false
    }
}

/// A JSON string literal decoded by Foundation, or nil.
private func jsonString<Bytes: Sequence<UInt8>>(_ utf8: Bytes) -> String? {
    (try? JSONSerialization.jsonObject(with: Data(utf8), options: [.fragmentsAllowed])) as? String
}

/// Whether `bytes` is `prefix`, something, then `suffix`.
private func isFramed(_ bytes: [UInt8], _ prefix: String, _ suffix: String) -> Bool {
    bytes.count >= prefix.utf8.count + suffix.utf8.count && bytes.starts(with: prefix.utf8)
        && bytes.suffix(suffix.utf8.count).elementsEqual(suffix.utf8)
}

private func sameScalars(_ a: String, _ b: String) -> Bool {
    a.unicodeScalars.elementsEqual(b.unicodeScalars)
}

private func checkQuote(_ text: String) {
    let quoted = SockJSJSON.quote(text)
    fuzzCheck(!quoted.unicodeScalars.contains(where: isUnsafe), "quote leaves an unsafe character raw: \(quoted.debugDescription)")
    guard let decoded = jsonString(quoted.utf8) else { fuzzFailure("quote is not a JSON string: \(quoted.debugDescription)") }
    fuzzCheck(sameScalars(decoded, text), "quote does not read back: \(text.debugDescription) → \(quoted.debugDescription)")
}

/// `wrapped` is `prefix` + a JSON string of the frame's text + `suffix`.
private func checkQuoted(_ wrapped: String, prefix: String, suffix: String, frame: String, escapesHTML: Bool, kind: String) {
    let bytes = Array(wrapped.utf8)
    fuzzCheck(isFramed(bytes, prefix, suffix), "\(kind) framing: \(wrapped.debugDescription)")
    let inner = bytes.dropFirst(prefix.utf8.count).dropLast(suffix.utf8.count)
    guard let decoded = jsonString(inner) else { fuzzFailure("\(kind) does not carry a JSON string: \(wrapped.debugDescription)") }
    fuzzCheck(sameScalars(decoded, frame), "\(kind) does not read back: \(wrapped.debugDescription)")
    if escapesHTML {
        let html: Set<UInt8> = [UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "&")]
        fuzzCheck(!inner.contains(where: html.contains), "\(kind) carries raw HTML: \(wrapped.debugDescription)")
    }
}

private func checkWrapping(_ frame: SockJSFrame, callback: String) {
    let text = frame.encoded
    let line = SockJSReceiverKind.xhrPolling.wrap(frame)
    fuzzCheck(line == text + "\n" && !text.utf8.contains(0x0A), "xhr framing: \(line.debugDescription)")
    fuzzCheck(SockJSReceiverKind.xhrStreaming.wrap(frame) == line, "xhr-streaming framing differs from xhr")

    let event = SockJSReceiverKind.eventSource.wrap(frame)
    let eventBytes = Array(event.utf8)
    fuzzCheck(isFramed(eventBytes, "data: ", "\r\n\r\n"), "eventsource framing: \(event.debugDescription)")
    let data = eventBytes.dropFirst(6).dropLast(4)
    fuzzCheck(!data.contains(where: { $0 == 0x0A || $0 == 0x0D || $0 == 0 }), "eventsource data breaks the event: \(event.debugDescription)")
    let pieces = data.split(separator: UInt8(ascii: "%"), omittingEmptySubsequences: false)
    let percentInGrapheme = text.filter { $0 == "%" }.count != text.unicodeScalars.filter { $0 == "%" }.count
    if !(skipsPercentInGrapheme && percentInGrapheme) {
        fuzzCheck(pieces.dropFirst().allSatisfy { $0.starts(with: "25".utf8) }, "eventsource: a % that decodeURI would misread")
        let unescaped = pieces.enumerated().map { $0.offset == 0 ? Array($0.element) : Array($0.element.dropFirst(2)) }
        fuzzCheck(Array(unescaped.joined(separator: [UInt8(ascii: "%")])) == Array(text.utf8), "eventsource does not read back")
    }

    checkQuoted(
        SockJSReceiverKind.htmlFile(callback: callback).wrap(frame),
        prefix: "<script>\np(", suffix: ");\n</script>\r\n", frame: text, escapesHTML: expectsHTMLEscaping, kind: "htmlfile"
    )
    checkQuoted(
        SockJSReceiverKind.jsonp(callback: callback).wrap(frame),
        prefix: "/**/" + callback + "(", suffix: ");\r\n", frame: text, escapesHTML: expectsJSONPEscaping, kind: "jsonp"
    )
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let code = Int(input.byte()) * 16
    let candidate = String(decoding: input.bytes(upTo: UInt8(ascii: "\n")), as: UTF8.self)
    let body = Array(input.rest())

    var callback = "c"
    if SockJSReceiverKind.isValidCallback(candidate) {
        let allowed = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.".unicodeScalars)
        fuzzCheck(candidate.unicodeScalars.allSatisfy(allowed.contains), "isValidCallback accepts \(candidate.debugDescription)")
        callback = candidate
    }

    // Messages: what the client posted, or the body's text when it is not a valid payload.
    let messages = SockJSJSON.decodeMessages(body) ?? [String(decoding: body, as: UTF8.self)]
    for message in messages { checkQuote(message) }
    let frames: [SockJSFrame] = [.open, .heartbeat, .messages(messages.map { SockJSMessage($0) }), .close(code: code, reason: messages.first ?? "")]
    for frame in frames { checkWrapping(frame, callback: callback) }
    return 0
}

runLibFuzzer(fuzz)
