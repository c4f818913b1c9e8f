import Foundation
import Hub
import NIOCore

// What credentials and the application's hook answers mean, as pure functions: no I/O, no
// cryptography (the gatekeeper, `GatewayGatekeeper`, does those). FuzzAccess fuzzes them.

/// A credential found in a CONNECT or an HTTP request.
enum Credential {
    case none
    case apiKey(name: String)
    case token(String)
    case refused(String)

    /// Finds the credential of a CONNECT, in order: an `Authorization: Bearer` header (any
    /// case), the `?token=` of the URL that carried it, the `passcode`. `acceptsTokens`: JWT is
    /// configured.
    static func find(in headers: StompHeaders, context: ClientContext?, apiKeys: [String: String], acceptsTokens: Bool) -> Credential {
        // STOMP header names are case-sensitive, but browsers' habit is `Authorization`.
        if let authorization = headers.first(where: { $0.name.lowercased() == "authorization" })?.value {
            return bearer(authorization, apiKeys: apiKeys)
        }
        if let token = context?.queryToken {
            guard VerifiedToken.looksLikeToken(token) else { return .refused("the token in the URL is not a JWT") }
            return .token(token)
        }
        guard let passcode = headers["passcode"] else { return .none }
        if let name = apiKeyName(passcode, in: apiKeys) { return .apiKey(name: name) }
        if acceptsTokens, VerifiedToken.looksLikeToken(passcode) { return .token(passcode) }
        return .refused("the passcode is neither an API key nor a JWT")
    }

    /// An `Authorization` value: `Bearer <API key or JWT>`.
    static func bearer(_ authorization: String, apiKeys: [String: String]) -> Credential {
        let parts = authorization.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .refused("Authorization must be Bearer <token>") }
        let value = String(parts[1]).trimmingSpaces
        if let name = apiKeyName(value, in: apiKeys) { return .apiKey(name: name) }
        guard VerifiedToken.looksLikeToken(value) else { return .refused("the bearer credential is neither an API key nor a JWT") }
        return .token(value)
    }

    /// The name of the API key whose secret is `secret`, compared in constant time.
    static func apiKeyName(_ secret: String, in apiKeys: [String: String]) -> String? {
        var found: String?
        for (name, key) in apiKeys where constantTimeEquals(key, secret) { found = name }
        return found
    }

    private static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let left = Array(a.utf8)
        let right = Array(b.utf8)
        guard left.count == right.count else { return false }
        var difference: UInt8 = 0
        for index in left.indices { difference |= left[index] ^ right[index] }
        return difference == 0
    }
}

/// What the connect and send hooks' `200` answers do.
enum HookAnswers {
    /// The loop-clock deadline of a wall-clock time (seconds since 1970), within ten years.
    static func deadline(at seconds: Double) -> NIODeadline {
        let remaining = min(max(seconds - Date().timeIntervalSince1970, 0), 10 * 365 * 86_400)
        return .now() + .milliseconds(Int64(remaining * 1_000))
    }

    /// The principal a connect hook's `200` answer describes: `user` (absent: the token's
    /// `sub`; null: anonymous), `subscribe`/`send` replacing the configured rules, `expires_in`,
    /// `data` (for the hooks) and `presence` (for every subscriber: `PresenceData`; absent: the
    /// token's `presence` claim; null: none). A malformed answer is `authorization unavailable`.
    static func connectPrincipal(_ answer: JSONValue, token: VerifiedToken?, context: ClientContext?, policy: AccessPolicy) -> Result<Principal, StompError> {
        var user = token?.subject
        switch answer["user"] {
        case nil: break
        case .null?: user = nil
        case .string(let id)? where Identity.isValidUser(id): user = id
        default:
            return .failure(.authorizationUnavailable("the connect hook's user must be 1 to \(Identity.maxUserLength) bytes without control characters"))
        }
        let subscribe = AccessPolicy.globs(in: answer["subscribe"], limit: 1_000)
        let send = AccessPolicy.globs(in: answer["send"], limit: 1_000)
        guard let subscribe, let send else {
            return .failure(.authorizationUnavailable("the connect hook's subscribe and send must be lists of destination globs like \"/topic/**\""))
        }
        var expiry = token?.expiry.map(deadline(at:))
        if let expiresIn = answer["expires_in"], !expiresIn.isNull {
            guard let seconds = expiresIn.numberValue, seconds > 0, seconds <= 10 * 365 * 86_400 else {
                return .failure(.authorizationUnavailable("the connect hook's expires_in must be a positive number of seconds"))
            }
            let hookExpiry = NIODeadline.now() + .milliseconds(Int64(seconds * 1_000))
            expiry = expiry.map { min($0, hookExpiry) } ?? hookExpiry
        }
        var presence = token?.presence
        if let field = answer["presence"] {
            guard let text = PresenceData.text(of: field) else {
                return .failure(.authorizationUnavailable("the connect hook's presence \(PresenceData.requirement)"))
            }
            presence = text
        }
        var identity = Identity(kind: .hook, narrowing: token?.narrowing, data: answer["data"], claims: token?.claims, transport: context?.transport, address: context?.address?.ipAddress)
        if subscribe != nil || send != nil {
            // Lists the hook left out stay as configured for a principal like this one.
            let configured = policy.rules(for: Principal(user: user, details: identity))
            identity.ownRules = AccessPolicy.Rules(subscribe: subscribe ?? configured.subscribe, send: send ?? configured.send)
        }
        return .success(identity.principal(user: user, expiry: expiry, presence: presence))
    }

    /// What a send hook's `200` answer does to the message: `drop`, a new `body`, added or
    /// replaced `headers` (through `HubMessage.passThroughHeaders`), or nothing.
    static func sendOutcome(_ answer: JSONValue, headers: StompHeaders, body: ByteBuffer) -> Result<StompReview.Outcome, StompError> {
        if answer["drop"] == .bool(true) { return .success(.drop) }
        let newBody = answer["body"]
        let newHeaders = answer["headers"]
        if newBody == nil && newHeaders == nil { return .success(.allow) }
        var replacedBody = body
        if let newBody {
            guard let text = newBody.stringValue else { return .failure(.authorizationUnavailable("the send hook's body must be a string")) }
            replacedBody = ByteBuffer(string: text)
        }
        var replacedHeaders = headers
        if let newHeaders {
            guard case .object(let members) = newHeaders, members.count <= 64 else {
                return .failure(.authorizationUnavailable("the send hook's headers must be an object of at most 64 strings"))
            }
            for (name, value) in members {
                guard let text = value.stringValue else { return .failure(.authorizationUnavailable("the send hook's header \(name.prefix(64)) must be a string")) }
                replacedHeaders.set(name, text)
            }
        }
        return .success(.replace(headers: HubMessage.passThroughHeaders(replacedHeaders), body: replacedBody))
    }
}

extension String {
    var trimmingSpaces: String {
        var slice = Substring(self)
        while let first = slice.first, first == " " || first == "\t" { slice.removeFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice.removeLast() }
        return String(slice)
    }
}
