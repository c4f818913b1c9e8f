import Foundation
import Hub
import JWTKit

/// Verifies JSON Web Tokens (RFC 7519): HS256 with the configured secret (RFC 7518 §3.2),
/// RS256 or ES256 with the configured public key (§3.3, §3.4). The algorithm is chosen by the
/// token's `alg` only among the keys configured, so a token cannot pick a key of another kind
/// (an HS256 token "signed" with the RSA public key), and `alg: none` is never accepted.
///
/// Claims (RFC 7519 §4.1): `sub` becomes the principal's id; `exp` and `nbf` are honoured
/// with `leeway` seconds of clock skew; `iss` and `aud` must match when configured. The
/// optional `perigee` claim `{"subscribe": [globs], "send": [globs]}` narrows the
/// `access.authenticated` rules.
final class TokenVerifier: Sendable {
    typealias Settings = TokenSettings
    typealias Verified = VerifiedToken

    /// Tokens longer than this (bytes) are refused before any parsing.
    static let maxTokenLength = 8 * 1024

    private let settings: Settings
    private let hmac: JWTKeyCollection?
    private let rsa: JWTKeyCollection?
    private let ecdsa: JWTKeyCollection?
    /// Counts refusals by reason.
    private let metrics: GatewayMetrics?

    private init(settings: Settings, hmac: JWTKeyCollection?, rsa: JWTKeyCollection?, ecdsa: JWTKeyCollection?, metrics: GatewayMetrics?) {
        self.settings = settings
        self.metrics = metrics
        self.hmac = hmac
        self.rsa = rsa
        self.ecdsa = ecdsa
    }

    /// The kind of a PEM public key, or nil when it is neither an RSA key of at least 2,048
    /// bits nor a P-256 key (configuration checking).
    static func publicKeyKind(_ pem: String) -> String? {
        if (try? Insecure.RSA.PublicKey(pem: pem)) != nil { return "RS256" }
        if (try? ES256PublicKey(pem: pem)) != nil { return "ES256" }
        return nil
    }

    /// - Throws: when the public key is neither RSA nor P-256 (the configuration loader has
    ///   checked it already).
    static func make(_ settings: Settings, metrics: GatewayMetrics? = nil) async throws -> TokenVerifier {
        var hmac: JWTKeyCollection?
        var rsa: JWTKeyCollection?
        var ecdsa: JWTKeyCollection?
        if let secret = settings.hs256Secret {
            let keys = JWTKeyCollection()
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            hmac = keys
        }
        if let pem = settings.publicKeyPEM {
            if let key = try? Insecure.RSA.PublicKey(pem: pem) {
                let keys = JWTKeyCollection()
                await keys.add(rsa: key, digestAlgorithm: .sha256)
                rsa = keys
            } else {
                let keys = JWTKeyCollection()
                await keys.add(ecdsa: try ES256PublicKey(pem: pem))
                ecdsa = keys
            }
        }
        return TokenVerifier(settings: settings, hmac: hmac, rsa: rsa, ecdsa: ecdsa, metrics: metrics)
    }

    /// Verifies `token` at `now` (seconds since 1970). Fails with `StompError.unauthorized(_:)`
    /// saying why (never echoing the token).
    /// Each refusal is counted in `perigee_jwt_failures_total{reason}`.
    func verify(_ token: String, now: Double) async -> Result<Verified, StompError> {
        let result = await evaluate(token, now: now)
        if case .failure(let rejection) = result { metrics?.jwtFailure(rejection.reason) }
        return result.mapError(\.error)
    }

    private func evaluate(_ token: String, now: Double) async -> Result<Verified, TokenRejection> {
        guard token.utf8.count <= Self.maxTokenLength else {
            return .failure(TokenRejection("too_long", .unauthorized("the token is longer than \(Self.maxTokenLength) bytes")))
        }
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Self.decodeSegment(parts[0]), let alg = header["alg"]?.stringValue else {
            return .failure(TokenRejection("malformed", .unauthorized("the token is not a JWT (header.payload.signature with an alg)")))
        }
        let keys: JWTKeyCollection?
        switch alg {
        case "HS256": keys = hmac
        case "RS256": keys = rsa
        case "ES256": keys = ecdsa
        case "none", "None", "NONE":
            return .failure(TokenRejection("unsupported_algorithm", .unauthorized("unsigned tokens (alg none) are not accepted")))
        default:
            return .failure(TokenRejection("unsupported_algorithm", .unauthorized("tokens signed with \(alg.prefix(16)) are not accepted")))
        }
        guard let keys else { return .failure(TokenRejection("unknown_key", .unauthorized("no key is configured for \(alg) tokens"))) }
        let payload: TokenPayload
        do {
            payload = try await keys.verify(token, as: TokenPayload.self)
        } catch let error as JWTError where error.errorType == .signatureVerificationFailed {
            return .failure(TokenRejection("bad_signature", .unauthorized("the token's signature does not verify")))
        } catch {
            return .failure(TokenRejection("malformed", .unauthorized("the token could not be verified (malformed)")))
        }
        return VerifiedToken.checked(payload.claims, settings: settings, now: now)
    }

    /// A base64url JSON segment (the header), decoded without trusting its size.
    private static func decodeSegment(_ segment: Substring.UTF8View.SubSequence) -> JSONValue? {
        var text = String(decoding: segment, as: UTF8.self).replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while text.utf8.count % 4 != 0 { text += "=" }
        guard let data = Data(base64Encoded: text) else { return nil }
        return try? JSONDecoder().decode(JSONValue.self, from: data)
    }
}

/// A token's payload, kept whole: the claims are checked by `TokenVerifier` itself.
private struct TokenPayload: JWTPayload {
    var claims: JSONValue

    init(from decoder: any Decoder) throws { claims = try JSONValue(from: decoder) }

    func encode(to encoder: any Encoder) throws { try claims.encode(to: encoder) }

    func verify(using algorithm: some JWTAlgorithm) async throws {}
}
