/// A serialised origin `scheme://host[:port]` (RFC 6454 §6.2), normalised for comparison:
/// scheme and host in lower case, a scheme's default port dropped.
public struct Origin: Sendable, Hashable, CustomStringConvertible {
    public let scheme: String
    public let host: String
    /// The explicit port, nil when absent or the scheme's default.
    public let port: Int?

    /// Parses `scheme://host[:port]`; nil for anything else (a path, user info, a bad port).
    public init?(parsing text: String) {
        guard let separator = text.range(of: "://") else { return nil }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard let first = scheme.first, first.isASCII, first.isLetter,
            scheme.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) })
        else { return nil }
        guard let authority = HostAndPort(parsing: String(text[separator.upperBound...])) else { return nil }
        self.scheme = scheme
        self.host = authority.host
        let defaultPort = Self.defaultPort(of: scheme)
        self.port = authority.port == defaultPort ? nil : authority.port
    }

    /// 80 for http and ws, 443 for https and wss, nil for other schemes.
    static func defaultPort(of scheme: String) -> Int? {
        switch scheme {
        case "http", "ws": return 80
        case "https", "wss": return 443
        default: return nil
        }
    }

    var defaultPort: Int? { Self.defaultPort(of: scheme) }
    var effectivePort: Int? { port ?? defaultPort }

    public var description: String {
        port.map { "\(scheme)://\(host):\($0)" } ?? "\(scheme)://\(host)"
    }

    /// `host[:port]` as in a `Host` header or an origin's authority: a name, an IPv4 address or
    /// a bracketed IPv6 address; the host in lower case.
    struct HostAndPort: Equatable {
        var host: String
        var port: Int?

        init?(parsing text: String) {
            var hostPart = Substring(text)
            var portPart: Substring?
            if text.hasPrefix("[") {
                guard let close = text.firstIndex(of: "]") else { return nil }
                hostPart = text[...close]
                let rest = text[text.index(after: close)...]
                if !rest.isEmpty {
                    guard rest.first == ":" else { return nil }
                    portPart = rest.dropFirst()
                }
            } else if let colon = text.firstIndex(of: ":") {
                hostPart = text[..<colon]
                portPart = text[text.index(after: colon)...]
            }
            // A name or IPv4 address: letters, digits, `-._~`; an IPv6 literal: hex digits,
            // `:` and `.` (embedded IPv4) inside brackets.
            let isIPv6 = hostPart.first == "["
            let inner = isIPv6 ? hostPart.dropFirst().dropLast() : hostPart
            let punctuation = isIPv6 ? ":." : "-._~"
            guard !inner.isEmpty,
                inner.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || punctuation.contains($0)) })
            else { return nil }
            host = hostPart.lowercased()
            if let portPart {
                guard !portPart.isEmpty, portPart.count <= 5, portPart.allSatisfy({ $0.isASCII && $0.isNumber }),
                    let value = Int(portPart), (1...65535).contains(value)
                else { return nil }
                port = value
            }
        }
    }
}
