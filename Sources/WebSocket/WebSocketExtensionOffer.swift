/// One extension from a `Sec-WebSocket-Extensions` header (RFC 6455 §9.1): a name and its
/// parameters in order, values unquoted.
public struct WebSocketExtensionOffer: Sendable, Hashable {
    public struct Parameter: Sendable, Hashable {
        public var name: String
        public var value: String?
    }

    public var name: String
    public var parameters: [Parameter]

    /// Parses every extension in the given header values (a request may repeat the header).
    ///
    /// Returns `nil` when the syntax is broken; RFC 6455 §9.1 ABNF, with quoted-string values.
    public static func parse(_ headerValues: [String]) -> [WebSocketExtensionOffer]? {
        var offers: [WebSocketExtensionOffer] = []
        for value in headerValues {
            var scanner = Scanner(Array(value.utf8))
            while true {
                scanner.skipSpaces()
                if scanner.atEnd { break }
                if scanner.consume(UInt8(ascii: ",")) { continue }  // empty list elements are allowed
                guard let name = scanner.token() else { return nil }
                var offer = WebSocketExtensionOffer(name: name, parameters: [])
                while true {
                    scanner.skipSpaces()
                    if scanner.atEnd || scanner.consume(UInt8(ascii: ",")) { break }
                    guard scanner.consume(UInt8(ascii: ";")) else { return nil }
                    scanner.skipSpaces()
                    guard let parameterName = scanner.token() else { return nil }
                    scanner.skipSpaces()
                    var parameterValue: String?
                    if scanner.consume(UInt8(ascii: "=")) {
                        scanner.skipSpaces()
                        guard let parsed = scanner.quotedString() ?? scanner.token() else { return nil }
                        parameterValue = parsed
                    }
                    offer.parameters.append(Parameter(name: parameterName, value: parameterValue))
                }
                offers.append(offer)
            }
        }
        return offers
    }

    private struct Scanner {
        let bytes: [UInt8]
        var index = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { index >= bytes.count }

        mutating func skipSpaces() {
            while index < bytes.count, bytes[index] == UInt8(ascii: " ") || bytes[index] == UInt8(ascii: "\t") {
                index += 1
            }
        }

        mutating func consume(_ byte: UInt8) -> Bool {
            guard index < bytes.count, bytes[index] == byte else { return false }
            index += 1
            return true
        }

        /// RFC 7230 token characters.
        mutating func token() -> String? {
            let start = index
            while index < bytes.count, Self.isTokenByte(bytes[index]) { index += 1 }
            guard index > start else { return nil }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }

        mutating func quotedString() -> String? {
            guard consume(UInt8(ascii: "\"")) else { return nil }
            var value: [UInt8] = []
            while index < bytes.count {
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\"") { return String(decoding: value, as: UTF8.self) }
                if byte == UInt8(ascii: "\\") {
                    guard index < bytes.count else { return nil }
                    value.append(bytes[index])
                    index += 1
                } else {
                    value.append(byte)
                }
            }
            return nil
        }

        static func isTokenByte(_ byte: UInt8) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                return true
            default:
                return Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
            }
        }
    }
}
