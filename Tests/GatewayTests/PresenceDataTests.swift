@testable import Gateway
import Hub
import Testing

/// Issue 11: a principal's presence data comes from the connect hook's `presence` field or a
/// token's `presence` claim: a JSON object of at most 1 KiB, written compactly, or nothing.
@Suite struct PresenceDataTests {
    static let settings = TokenSettings(hs256Secret: String(repeating: "s", count: 32))

    @Test func anObjectBecomesCompactJSONText() {
        let value = JSONValue.object([("name", "Alice \"A\""), ("tags", .array([.number(1), .bool(true), .null]))])
        #expect(PresenceData.text(of: value) == .some(#"{"name":"Alice \"A\"","tags":[1,true,null]}"#))
        #expect(PresenceData.text(of: nil) == .some(nil))
        #expect(PresenceData.text(of: .null) == .some(nil))
        for bad: JSONValue in ["text", .number(1), .array([]), .bool(true)] {
            #expect(PresenceData.text(of: bad) == nil, "\(bad.encoded)")
        }
        // 1,024 bytes pass, 1,025 do not: {"a":"…"} is 8 bytes around the string.
        #expect(PresenceData.text(of: .object([("a", .string(String(repeating: "x", count: 1_016)))]))??.utf8.count == 1_024)
        #expect(PresenceData.text(of: .object([("a", .string(String(repeating: "x", count: 1_017)))])) == nil)
        // Escapes count as written.
        #expect(PresenceData.text(of: .object([("a", .string(String(repeating: "\u{1}", count: 200)))])) == nil)
    }

    @Test func aTokensPresenceClaim() throws {
        let claims: [(String, JSONValue)] = [("sub", "alice")]
        let plain = try VerifiedToken.check(.object(claims), settings: Self.settings, now: 0).get()
        #expect(plain.presence == nil)
        let with = try VerifiedToken.check(.object(claims + [("presence", .object([("color", "red")]))]), settings: Self.settings, now: 0).get()
        #expect(with.presence == #"{"color":"red"}"#)
        let principal = GatewayGatekeeper.principal(of: with, context: nil)
        #expect(principal.presence == #"{"color":"red"}"#)
        #expect(try VerifiedToken.check(.object(claims + [("presence", .null)]), settings: Self.settings, now: 0).get().presence == nil)
        for bad: JSONValue in ["red", .array([]), .object([("big", .string(String(repeating: "x", count: 2_000)))])] {
            guard case .failure(let rejection) = VerifiedToken.checked(.object(claims + [("presence", bad)]), settings: Self.settings, now: 0) else {
                Issue.record("accepted \(bad.encoded.prefix(40))"); continue
            }
            #expect(rejection.reason == "bad_claims")
            #expect(rejection.error.message == "unauthorized")
            #expect(rejection.error.detail.contains("presence claim must be a JSON object of at most 1024 bytes, or null"))
        }
    }

    @Test func aConnectHooksPresenceField() throws {
        let token = try VerifiedToken.check(
            .object([("sub", "alice"), ("presence", .object([("from", "token")]))]), settings: Self.settings, now: 0
        ).get()
        func principal(_ answer: [(String, JSONValue)], token: VerifiedToken? = nil) throws -> Principal {
            try HookAnswers.connectPrincipal(.object(answer), token: token, context: nil, policy: .standard).get()
        }
        // The hook's presence, not its data, is what subscribers see.
        let hooked = try principal([("user", "bob"), ("data", .object([("secret", "s")])), ("presence", .object([("name", "Bob")]))])
        #expect(hooked.presence == #"{"name":"Bob"}"#)
        #expect(try principal([("user", "bob"), ("data", .object([("name", "Bob")]))]).presence == nil)
        // Absent: the token's claim; null: none; a hook that makes the session anonymous: none.
        #expect(try principal([], token: token).presence == #"{"from":"token"}"#)
        #expect(try principal([("presence", .null)], token: token).presence == nil)
        #expect(try principal([("presence", .object([("from", "hook")]))], token: token).presence == #"{"from":"hook"}"#)
        #expect(try principal([("user", .null), ("presence", .object([("a", "b")]))]).presence == nil)
        for bad: JSONValue in ["Bob", .array([.object([])]), .object([("big", .string(String(repeating: "x", count: 2_000)))])] {
            guard case .failure(let error) = HookAnswers.connectPrincipal(.object([("user", "bob"), ("presence", bad)]), token: nil, context: nil, policy: .standard) else {
                Issue.record("accepted \(bad.encoded.prefix(40))"); continue
            }
            #expect(error.message == "authorization unavailable")
            #expect(error.detail.contains("the connect hook's presence must be a JSON object of at most 1024 bytes, or null"))
        }
    }
}
