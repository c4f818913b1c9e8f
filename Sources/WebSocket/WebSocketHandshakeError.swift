import NIOHTTP1

/// Why an HTTP request could not be upgraded (RFC 6455 §4.2.1, §4.2.2), with the HTTP status
/// and headers of the answer. The mapping to the wire lives only here.
public struct WebSocketHandshakeError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case methodNotGet(String)
        case httpVersionTooOld
        case missingHost
        case missingUpgrade
        case missingConnectionUpgrade
        case unsupportedVersion(String?)
        case missingKey
        case malformedKey
        case originRejected(String?)
        case noSuchEndpoint(String)
        case subprotocolRequired
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    public static func methodNotGet(_ method: String) -> Self { .init(.methodNotGet(method)) }
    public static let httpVersionTooOld = Self(.httpVersionTooOld)
    public static let missingHost = Self(.missingHost)
    public static let missingUpgrade = Self(.missingUpgrade)
    public static let missingConnectionUpgrade = Self(.missingConnectionUpgrade)
    public static func unsupportedVersion(_ version: String?) -> Self { .init(.unsupportedVersion(version)) }
    public static let missingKey = Self(.missingKey)
    public static let malformedKey = Self(.malformedKey)
    public static func originRejected(_ origin: String?) -> Self { .init(.originRejected(origin)) }
    public static func noSuchEndpoint(_ path: String) -> Self { .init(.noSuchEndpoint(path)) }
    public static let subprotocolRequired = Self(.subprotocolRequired)

    /// The status of the error response.
    public var status: HTTPResponseStatus {
        switch base {
        case .unsupportedVersion: return .upgradeRequired
        case .originRejected: return .forbidden
        case .noSuchEndpoint: return .notFound
        default: return .badRequest
        }
    }

    /// Extra headers the response must carry: §4.2.2 asks for the supported version with 426.
    public var headers: HTTPHeaders {
        switch base {
        case .unsupportedVersion: return ["Sec-WebSocket-Version": "13"]
        default: return [:]
        }
    }

    /// A short fixed label for metrics (`perigee_handshake_failures_total{reason}`): never
    /// client text.
    public var reason: String {
        switch base {
        case .methodNotGet: return "method"
        case .httpVersionTooOld: return "http_version"
        case .missingHost: return "host"
        case .missingUpgrade: return "upgrade_header"
        case .missingConnectionUpgrade: return "connection_header"
        case .unsupportedVersion: return "version"
        case .missingKey, .malformedKey: return "key"
        case .originRejected: return "origin"
        case .noSuchEndpoint: return "no_endpoint"
        case .subprotocolRequired: return "subprotocol"
        }
    }

    /// A one-line explanation for the response body.
    public var message: String {
        switch base {
        case .methodNotGet(let method): return "WebSocket handshake requires GET, not \(method)"
        case .httpVersionTooOld: return "WebSocket handshake requires HTTP/1.1 or later"
        case .missingHost: return "WebSocket handshake requires a Host header"
        case .missingUpgrade: return "Upgrade header must include websocket"
        case .missingConnectionUpgrade: return "Connection header must include Upgrade"
        case .unsupportedVersion(let version):
            return "unsupported Sec-WebSocket-Version \(version ?? "(none)"); this server speaks 13"
        case .missingKey: return "missing Sec-WebSocket-Key"
        case .malformedKey: return "Sec-WebSocket-Key must be 16 bytes in base64"
        case .originRejected(let origin): return "origin \(origin ?? "(none)") is not allowed"
        case .noSuchEndpoint(let path): return "no WebSocket endpoint at \(path)"
        case .subprotocolRequired: return "none of the offered subprotocols is supported"
        }
    }

    public var description: String { "\(status.code) \(message)" }
}
