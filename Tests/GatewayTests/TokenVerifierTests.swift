import Foundation
import Hub
import JWTKit
import Testing
@testable import Gateway

/// JWT verification (RFC 7519, RFC 7518): tokens signed here with jwt-kit, and forged ones.
@Suite struct TokenVerifierTests {
    struct Claims: JWTPayload {
        var sub: String?
        var exp: Double?
        var nbf: Double?
        var iss: String?
        var aud: [String]?
        var perigee: [String: [String]]?

        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static let secret = String(repeating: "s", count: 40)
    static let now = Date().timeIntervalSince1970

    static func hs256(_ claims: Claims, secret: String = secret) async throws -> String {
        let keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
        return try await keys.sign(claims)
    }

    static func verifier(_ configure: (inout TokenVerifier.Settings) -> Void = { _ in }) async throws -> TokenVerifier {
        var settings = TokenVerifier.Settings(hs256Secret: secret, leewaySeconds: 30)
        configure(&settings)
        return try await TokenVerifier.make(settings)
    }

    static func reason(_ result: Result<TokenVerifier.Verified, StompError>) -> String? {
        guard case .failure(let error) = result else { return nil }
        #expect(error.message == "unauthorized")
        return error.detail
    }

    @Test func acceptsAValidToken() async throws {
        let token = try await Self.hs256(Claims(sub: "alice", exp: Self.now + 60))
        let verified = try await Self.verifier().verify(token, now: Self.now).get()
        #expect(verified.subject == "alice")
        #expect(verified.expiry == Self.now + 60 + 30)  // exp plus the leeway
        #expect(verified.narrowing == nil)
        #expect(verified.claims["sub"] == .string("alice"))
    }

    @Test func honoursExpiryAndNotBeforeWithLeeway() async throws {
        let verifier = try await Self.verifier()
        let expired = try await Self.hs256(Claims(sub: "a", exp: Self.now - 31))
        #expect(await Self.reason(verifier.verify(expired, now: Self.now))?.contains("expired") == true)
        let withinLeeway = try await Self.hs256(Claims(sub: "a", exp: Self.now - 29))
        #expect(await Self.reason(verifier.verify(withinLeeway, now: Self.now)) == nil)
        let early = try await Self.hs256(Claims(sub: "a", nbf: Self.now + 31))
        #expect(await Self.reason(verifier.verify(early, now: Self.now))?.contains("not valid yet") == true)
    }

    @Test func refusesForgedTokens() async throws {
        let verifier = try await Self.verifier()
        let wrongKey = try await Self.hs256(Claims(sub: "a"), secret: String(repeating: "t", count: 40))
        #expect(await Self.reason(verifier.verify(wrongKey, now: Self.now))?.contains("signature") == true)

        let genuine = try await Self.hs256(Claims(sub: "alice"))
        let parts = genuine.split(separator: ".")
        let forgedPayload = Data(#"{"sub":"admin"}"#.utf8).base64EncodedString()
            .replacingOccurrences(of: "=", with: "").replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        let tampered = "\(parts[0]).\(forgedPayload).\(parts[2])"
        #expect(await Self.reason(verifier.verify(tampered, now: Self.now))?.contains("signature") == true)

        let none = Data(#"{"alg":"none","typ":"JWT"}"#.utf8).base64EncodedString().replacingOccurrences(of: "=", with: "")
        #expect(await Self.reason(verifier.verify("\(none).\(forgedPayload).", now: Self.now))?.contains("alg none") == true)

        for malformed in ["", "abc", "a.b", "a.b.c.d", String(repeating: "a", count: 9_000), "eyJhbGciOiJIUzI1NiJ9.%%%.x"] {
            #expect(await Self.reason(verifier.verify(malformed, now: Self.now)) != nil, "\(malformed.prefix(20))")
        }
    }

    /// An algorithm is accepted only with a key configured for it: an HS256 token is refused
    /// when only a public key is configured (no "signed with the public key" confusion).
    @Test func choosesTheKeyByAlgorithmAmongConfiguredOnes() async throws {
        let privateKey = ES256PrivateKey()
        let pem = privateKey.publicKey.pemRepresentation
        #expect(TokenVerifier.publicKeyKind(pem) == "ES256")
        let verifier = try await Self.verifier { $0.hs256Secret = nil; $0.publicKeyPEM = pem }
        let keys = JWTKeyCollection()
        await keys.add(ecdsa: privateKey)
        let es256 = try await keys.sign(Claims(sub: "carol"))
        #expect(try await verifier.verify(es256, now: Self.now).get().subject == "carol")
        let hs256 = try await Self.hs256(Claims(sub: "carol"))
        #expect(await Self.reason(verifier.verify(hs256, now: Self.now))?.contains("no key is configured for HS256") == true)
    }

    @Test func checksIssuerAudienceAndSubject() async throws {
        let verifier = try await Self.verifier { $0.issuer = "https://issuer"; $0.audience = "perigee" }
        let good = try await Self.hs256(Claims(sub: "a", iss: "https://issuer", aud: ["other", "perigee"]))
        #expect(await Self.reason(verifier.verify(good, now: Self.now)) == nil)
        let wrongIssuer = try await Self.hs256(Claims(sub: "a", iss: "https://evil", aud: ["perigee"]))
        #expect(await Self.reason(verifier.verify(wrongIssuer, now: Self.now))?.contains("issuer") == true)
        let wrongAudience = try await Self.hs256(Claims(sub: "a", iss: "https://issuer", aud: ["other"]))
        #expect(await Self.reason(verifier.verify(wrongAudience, now: Self.now))?.contains("audience") == true)
        let plain = try await Self.verifier()
        for subject: String? in [nil, "", "line\nbreak", String(repeating: "u", count: 257)] {
            let token = try await Self.hs256(Claims(sub: subject))
            #expect(await Self.reason(plain.verify(token, now: Self.now))?.contains("sub") == true)
        }
    }

    /// The `perigee` claim narrows the `authenticated` rules: both must allow.
    @Test func thePerigeeClaimNarrows() async throws {
        let verifier = try await Self.verifier()
        let token = try await Self.hs256(Claims(sub: "a", perigee: ["subscribe": ["/topic/a/**"]]))
        let verified = try await verifier.verify(token, now: Self.now).get()
        let principal = Identity(kind: .jwt, narrowing: verified.narrowing).principal(user: "a")
        let policy = AccessPolicy.standard
        #expect(policy.allows(principal, .subscribe, try #require(Destination("/topic/a/x"))))
        #expect(!policy.allows(principal, .subscribe, try #require(Destination("/topic/b"))))
        #expect(policy.allows(principal, .send, try #require(Destination("/topic/b"))))
        #expect(!policy.allows(principal, .send, try #require(Destination("/queue/b"))))
        let bad = try await Self.hs256(Claims(sub: "a", perigee: ["subscribe": ["topic/no-slash"]]))
        #expect(await Self.reason(verifier.verify(bad, now: Self.now))?.contains("perigee claim") == true)
    }
}
