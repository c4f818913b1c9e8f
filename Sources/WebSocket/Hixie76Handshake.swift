import COpenSSL
import NIOHTTP1

/// The draft-76 ("hixie-76") opening handshake, still spoken by some proxies (HAProxy in
/// its WebSocket mode, old browsers). SockJS servers accept it on their WebSocket transport.
///
/// Each of the two keys hides a number: its digits, divided by its number of spaces. The
/// server answers with MD5(number1 ‖ number2 ‖ key3), where key3 is the 8 bytes the client
/// sends after its headers — which a proxy may hold back until it has seen the 101.
public enum Hixie76Handshake {
    /// Whether a request is a draft-76 handshake (two keys and no RFC 6455 version).
    public static func isHixie76(_ head: HTTPRequestHead) -> Bool {
        head.headers.contains(name: "sec-websocket-key1") && head.headers.contains(name: "sec-websocket-key2")
            && !head.headers.contains(name: "sec-websocket-version")
    }

    /// The number a key encodes, or nil for a malformed key.
    public static func number(fromKey key: String) -> UInt32? {
        var digits: UInt64 = 0
        var spaces: UInt64 = 0
        var sawDigit = false
        for byte in key.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                sawDigit = true
                digits = digits &* 10 &+ UInt64(byte - UInt8(ascii: "0"))
                guard digits <= UInt64(UInt32.max) * 12 else { return nil }
            case UInt8(ascii: " "):
                spaces += 1
            default:
                continue
            }
        }
        guard sawDigit, spaces > 0, digits % spaces == 0, digits / spaces <= UInt64(UInt32.max) else { return nil }
        return UInt32(digits / spaces)
    }

    /// The 16-byte answer to the challenge.
    public static func response(number1: UInt32, number2: UInt32, key3: [UInt8]) -> [UInt8] {
        var input: [UInt8] = []
        for number in [number1, number2] {
            input += [UInt8(number >> 24), UInt8((number >> 16) & 0xFF), UInt8((number >> 8) & 0xFF), UInt8(number & 0xFF)]
        }
        input += key3
        var digest = [UInt8](repeating: 0, count: 16)
        var length: UInt32 = 0
        _ = EVP_Digest(input, input.count, &digest, &length, EVP_md5(), nil)
        return digest
    }
}
