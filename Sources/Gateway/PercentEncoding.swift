/// Percent-decoding of URL path segments and query values (RFC 3986 §2.1), for the admin
/// API's user ids, session ids and destinations. Pure and bounded: it never reads past its
/// input and refuses, rather than repairs, anything malformed.
enum PercentEncoding {
    /// The decoded text of `encoded`; nil when a `%` is not followed by two hex digits, when
    /// the bytes are not UTF-8, or when the result is longer than `maxBytes` UTF-8 bytes.
    /// - Parameter plusIsSpace: `+` means a space, as in a query string written by an HTML
    ///   form or `urlencode`; a path segment keeps its `+`.
    static func decode(_ encoded: Substring, plusIsSpace: Bool, maxBytes: Int) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(min(encoded.utf8.count, maxBytes))
        var iterator = encoded.utf8.makeIterator()
        while let byte = iterator.next() {
            let decoded: UInt8
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
                decoded = high << 4 | low
            case UInt8(ascii: "+") where plusIsSpace:
                decoded = UInt8(ascii: " ")
            default:
                decoded = byte
            }
            guard bytes.count < maxBytes else { return nil }
            bytes.append(decoded)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// The parameters of a query string (`a=1&b=2`), decoded with `+` as a space; nil when any
    /// name or value is malformed (`decode`). A name without `=` has an empty value; a
    /// repeated name keeps its first value.
    static func query(_ query: Substring, maxBytes: Int) -> [String: String]? {
        var result: [String: String] = [:]
        for pair in query.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0], plusIsSpace: true, maxBytes: maxBytes),
                let value = decode(parts.count > 1 ? parts[1] : "", plusIsSpace: true, maxBytes: maxBytes)
            else { return nil }
            if result[name] == nil { result[name] = value }
        }
        return result
    }
}
