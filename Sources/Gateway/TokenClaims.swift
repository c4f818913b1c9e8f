import Foundation
import Hub

// The parts of JWT verification that need no cryptography: settings, the claims' checks and a
// token's shape. `TokenVerifier` checks signatures with jwt-kit; FuzzAccess fuzzes these.

/// The `auth.jwt` settings.
struct TokenSettings: Sendable, Hashable {
    var hs256Secret: String?
    /// The PEM text of an RSA or P-256 public key (read from `auth.jwt.public_key_file`).
    var publicKeyPEM: String?
    var issuer: String?
    var audience: String?
    var leewaySeconds: Int = 30

    var isEnabled: Bool { hs256Secret != nil || publicKeyPEM != nil }
}

/// A token whose signature verified and whose claims passed `check`.
struct VerifiedToken: Sendable {
    var subject: String
    /// When the token stops being accepted, in seconds since 1970: its `exp` plus the
    /// leeway (nil without `exp`). A session it opened ends then.
    var expiry: Double?
    var claims: JSONValue
    var narrowing: AccessPolicy.Rules?
    /// The `presence` claim as compact JSON text (`PresenceData`); nil without one.
    var presence: String? = nil
}

extension VerifiedToken {
    /// Globs a `perigee` claim may list per action.
    static let maxClaimGlobs = 64

    /// Whether `text` has the shape of a compact JWT (three base64url parts), so that a
    /// passcode that is not one is not reported as a bad token.
    static func looksLikeToken(_ text: String) -> Bool {
        let parts = text.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0].count > 0 && parts[1].count > 0
    }

    /// The checks of a verified token's claims (`exp`, `nbf`, `iss`, `aud`, `sub`, `perigee`,
    /// `presence`).
    static func check(_ claims: JSONValue, settings: TokenSettings, now: Double) -> Result<VerifiedToken, StompError> {
        checked(claims, settings: settings, now: now).mapError(\.error)
    }

    /// `check`, with the refusal's metric reason.
    static func checked(_ claims: JSONValue, settings: TokenSettings, now: Double) -> Result<VerifiedToken, TokenRejection> {
        let leeway = Double(settings.leewaySeconds)
        var expiry: Double?
        if let exp = claims["exp"] {
            guard let value = exp.numberValue, value.isFinite else { return .failure(TokenRejection("bad_claims", .unauthorized("the token's exp is not a number"))) }
            guard value + leeway > now else { return .failure(TokenRejection("expired", .unauthorized("the token has expired"))) }
            expiry = value + leeway
        }
        if let nbf = claims["nbf"] {
            guard let value = nbf.numberValue, value.isFinite else { return .failure(TokenRejection("bad_claims", .unauthorized("the token's nbf is not a number"))) }
            guard value - leeway <= now else { return .failure(TokenRejection("not_yet_valid", .unauthorized("the token is not valid yet (nbf)"))) }
        }
        if let issuer = settings.issuer, claims["iss"]?.stringValue != issuer {
            return .failure(TokenRejection("bad_issuer", .unauthorized("the token's issuer is not the configured one")))
        }
        if let audience = settings.audience {
            let matches: Bool
            switch claims["aud"] {
            case .string(let single)?: matches = single == audience
            case .array(let list)?: matches = list.contains(.string(audience))
            default: matches = false
            }
            guard matches else { return .failure(TokenRejection("bad_audience", .unauthorized("the token is not meant for this audience"))) }
        }
        guard let subject = claims["sub"]?.stringValue, Identity.isValidUser(subject) else {
            return .failure(TokenRejection("bad_subject", .unauthorized("the token's sub must be 1 to \(Identity.maxUserLength) bytes without control characters")))
        }
        var narrowing: AccessPolicy.Rules?
        if let claim = claims["perigee"], !claim.isNull {
            guard case .object = claim else { return .failure(TokenRejection("bad_claims", .unauthorized("the token's perigee claim must be an object"))) }
            guard let subscribe = AccessPolicy.globs(in: claim["subscribe"], limit: maxClaimGlobs),
                let send = AccessPolicy.globs(in: claim["send"], limit: maxClaimGlobs)
            else {
                return .failure(TokenRejection("bad_claims", .unauthorized(
                    "the token's perigee claim must list at most \(maxClaimGlobs) destination globs like \"/topic/**\" per action"
                )))
            }
            // A missing list leaves that action as the configured rules say.
            narrowing = AccessPolicy.Rules(subscribe: subscribe ?? ["/**"], send: send ?? ["/**"])
        }
        guard let presence = PresenceData.text(of: claims["presence"]) else {
            return .failure(TokenRejection("bad_claims", .unauthorized("the token's presence claim \(PresenceData.requirement)")))
        }
        return .success(VerifiedToken(subject: subject, expiry: expiry, claims: claims, narrowing: narrowing, presence: presence))
    }
}

/// Why a token was refused: the ERROR (or HTTP 401) text, and a fixed reason for
/// `perigee_jwt_failures_total{reason}` (`expired`, `bad_signature`, ...; see
/// `GatewayMetrics.jwtReasons`).
struct TokenRejection: Error, Sendable {
    var reason: String
    var error: StompError

    init(_ reason: String, _ error: StompError) {
        self.reason = reason
        self.error = error
    }
}
