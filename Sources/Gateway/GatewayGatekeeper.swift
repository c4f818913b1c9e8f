import Foundation
import Hub
import NIOCore
import NIOHTTP1

/// The gateway's answer to who a session is and what it may do, the same for every transport
/// (STOMP/TCP, STOMP/WebSocket, every SockJS transport) and, through `authorizePublish`, for
/// the HTTP API:
///
/// - CONNECT credentials, in order: a CONNECT `Authorization: Bearer` header, the `?token=` of
///   the URL that opened the session, the `passcode`. An API key's secret makes an API-key
///   principal (no hook is asked); a JWT is verified (`TokenVerifier`); anything else is
///   refused with ERROR `unauthorized`. No credentials: anonymous.
/// - Then, with `hooks.connect` set, the application decides (`HookClient`), seeing the
///   verified token's claims.
/// - `allows` applies the access rules (`AccessPolicy`); `review` asks the subscribe and send
///   hooks.
struct GatewayGatekeeper: StompGatekeeper {
    let policy: AccessPolicy
    let apiKeys: [String: String]
    let tokens: TokenVerifier?
    let hooks: HookClient?
    private let sendPrefixes: [Glob]

    init(policy: AccessPolicy, apiKeys: [String: String], tokens: TokenVerifier?, hooks: HookClient?) {
        self.policy = policy
        self.apiKeys = apiKeys
        self.tokens = tokens
        self.hooks = hooks
        self.sendPrefixes = (hooks?.settings.sendPrefixes ?? []).map(Glob.init)
    }

    // MARK: CONNECT

    func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> {
        let context = request.client as? ClientContext
        switch credential(in: request.headers, context: context) {
        case .refused(let reason):
            return .decided(.failure(.unauthorized(reason)))
        case .apiKey(let name):
            return .decided(.success(Identity(kind: .apiKey, transport: context?.transport, address: context?.address?.ipAddress).principal(user: name)))
        case .none:
            guard hooks?.settings.connect != nil else {
                // Hooks ask about sessions by transport: give each session a principal of its own then.
                guard hooks != nil else { return .decided(.success(.anonymous)) }
                return .decided(.success(Identity(kind: .anonymous, transport: context?.transport, address: context?.address?.ipAddress).principal(user: nil)))
            }
            return .pending(connectHook(request, context: context, token: nil))
        case .token(let token):
            guard let tokens else { return .decided(.failure(.unauthorized("no JWT key is configured"))) }
            let loop = request.eventLoop
            let verified = loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }
            return .pending(verified.flatMap { result in
                switch result {
                case .failure(let error):
                    return loop.makeSucceededFuture(.failure(error))
                case .success(let token):
                    guard self.hooks?.settings.connect != nil else { return loop.makeSucceededFuture(.success(self.principal(of: token, context: context))) }
                    return self.connectHook(request, context: context, token: token)
                }
            })
        }
    }

    /// Finds the credential of a CONNECT (see the type's documentation for the order).
    func credential(in headers: StompHeaders, context: ClientContext?) -> Credential {
        Credential.find(in: headers, context: context, apiKeys: apiKeys, acceptsTokens: tokens != nil)
    }

    func bearer(_ authorization: String) -> Credential {
        Credential.bearer(authorization, apiKeys: apiKeys)
    }

    private func principal(of token: VerifiedToken, context: ClientContext?) -> Principal {
        let identity = Identity(kind: .jwt, narrowing: token.narrowing, claims: token.claims, transport: context?.transport, address: context?.address?.ipAddress)
        return identity.principal(user: token.subject, expiry: token.expiry.map(HookAnswers.deadline(at:)))
    }

    /// The loop-clock deadline of a wall-clock time (seconds since 1970), within ten years.
    private func connectHook(_ request: StompConnectRequest, context: ClientContext?, token: VerifiedToken?) -> EventLoopFuture<Result<Principal, StompError>> {
        guard let hooks, let url = hooks.settings.connect else { preconditionFailure("connectHook without a connect hook") }
        let forwarded = hooks.settings.forwardHeaders
        let withheld: Set<String> = ["login", "passcode", "authorization"]
        var stompHeaders: [(String, JSONValue)] = []
        for (name, value) in request.headers where !stompHeaders.contains(where: { $0.0 == name }) {
            guard !withheld.contains(name.lowercased()) || forwarded.contains(name.lowercased()) else { continue }
            stompHeaders.append((name, .string(value)))
        }
        var body: [(String, JSONValue)] = [
            ("hook", "connect"),
            ("session", .string(request.sessionName)),
            ("transport", .string(context?.transport ?? "unknown")),
            ("tls", .bool(context?.tls ?? false)),
        ]
        if let address = context?.address {
            body.append(("client", .object([("address", .string(address.ipAddress ?? "")), ("port", .number(address.port ?? 0))])))
        }
        body.append(("stomp_headers", .object(stompHeaders)))
        if let context, !context.httpHeaders.isEmpty {
            body.append(("http_headers", .object(context.httpHeaders.map { ($0.0, .string($0.1)) })))
        }
        if let token { body.append(("token", token.claims)) }
        let policy = self.policy
        return hooks.call("connect", url, body: .object(body), address: context?.address?.ipAddress, on: request.eventLoop).map { reply in
            switch reply {
            case .refused(let reason):
                return .failure(.unauthorized(reason))
            case .busy(let detail):
                return .failure(.authorizationUnavailable("the connect hook \(detail)"))
            case .failed(let detail):
                guard hooks.settings.failOpen else { return .failure(.authorizationUnavailable("the connect hook \(detail)")) }
                if let token { return .success(self.principal(of: token, context: context)) }
                return .success(Identity(kind: .anonymous, transport: context?.transport, address: context?.address?.ipAddress).principal(user: nil))
            case .allowed(let answer):
                return HookAnswers.connectPrincipal(answer, token: token, context: context, policy: policy)
            }
        }
    }

    /// The principal a connect hook's `200` answer describes.
    // MARK: HTTP API

    /// The principal of an HTTP API request: an API key or a JWT as `Authorization: Bearer`.
    /// With neither keys nor JWT configured, loopback clients publish anonymously and others
    /// get 403. Missing or malformed credentials: 401; an unknown key: 403; a refused token:
    /// 401 saying why. The connect hook is not asked (there is no session).
    func authorizeRequest(_ head: HTTPRequestHead, isLoopback: Bool, on loop: any EventLoop) -> EventLoopFuture<Result<Principal, PublishRequest.Failure>> {
        typealias Failure = PublishRequest.Failure
        guard !apiKeys.isEmpty || tokens != nil else {
            guard isLoopback else {
                return loop.makeSucceededFuture(.failure(Failure(status: .forbidden, message: "no API keys are configured: only loopback clients may publish")))
            }
            return loop.makeSucceededFuture(.success(.anonymous))
        }
        guard let authorization = head.headers.first(name: "authorization") else {
            return loop.makeSucceededFuture(.failure(Failure(status: .unauthorized, message: "missing Authorization: Bearer <api key or token>")))
        }
        switch bearer(authorization) {
        case .none:
            return loop.makeSucceededFuture(.success(.anonymous))
        case .refused(let reason):
            let known = authorization.split(separator: " ", maxSplits: 1).first?.lowercased() == "bearer"
            return loop.makeSucceededFuture(.failure(Failure(status: known ? .forbidden : .unauthorized, message: known ? "unknown API key" : reason)))
        case .apiKey(let name):
            return loop.makeSucceededFuture(.success(Identity(kind: .apiKey).principal(user: name)))
        case .token(let token):
            guard let tokens else { return loop.makeSucceededFuture(.failure(Failure(status: .forbidden, message: "unknown API key"))) }
            return loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }.map { result in
                switch result {
                case .success(let token): return .success(self.principal(of: token, context: nil))
                case .failure(let error): return .failure(Failure(status: .unauthorized, message: "unauthorized: \(error.detail)"))
                }
            }
        }
    }

    // MARK: SUBSCRIBE and SEND

    func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        // A subscribe hook that decides destination by destination never sees what a pattern
        // delivers: patterns are refused unless the configuration says the hook judges them.
        if action == .subscribe, destination.isPattern, let hooks, hooks.settings.subscribe != nil, !hooks.settings.subscribePatterns {
            return false
        }
        return policy.allows(principal, action, destination)
    }

    func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        guard let hooks, Identity.of(principal).kind != .apiKey else { return false }
        switch action {
        case .subscribe:
            return hooks.settings.subscribe != nil
        case .send:
            guard hooks.settings.send != nil else { return false }
            let path = destination.description
            return sendPrefixes.contains { $0.matches(path) }
        }
    }

    func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> {
        guard let hooks else { return .decided(.success(.allow)) }
        let identity = Identity.of(request.principal)
        var body: [(String, JSONValue)] = [
            ("session", .string(request.sessionName)),
            ("transport", .string(identity.transport ?? "unknown")),
            ("user", request.principal.user.map { .string($0) } ?? .null),
            ("data", identity.data ?? .null),
        ]
        switch request.action {
        case .subscribe(let destination):
            guard let url = hooks.settings.subscribe else { return .decided(.success(.allow)) }
            body.insert(("hook", "subscribe"), at: 0)
            body.append(("destination", .string(destination.description)))
            body.append(("pattern", .bool(destination.isPattern)))
            return .pending(hooks.call("subscribe", url, body: .object(body), address: identity.address, on: request.eventLoop).map { reply in
                switch reply {
                case .allowed: return .success(.allow)
                case .busy(let detail): return .failure(.authorizationUnavailable("the subscribe hook \(detail)"))
                case .refused(let reason): return .failure(.permissionDenied("subscribe to", destination: destination.description, reason: reason))
                case .failed(let detail):
                    return hooks.settings.failOpen ? .success(.allow) : .failure(.authorizationUnavailable("the subscribe hook \(detail)"))
                }
            })
        case .send(let destination, let headers, let messageBody):
            guard let url = hooks.settings.send else { return .decided(.success(.allow)) }
            body.insert(("hook", "send"), at: 0)
            body.append(("destination", .string(destination.description)))
            body.append(("headers", .object(headers.map { ($0.name, .string($0.value)) })))
            body.append(("body", .string(String(decoding: messageBody.readableBytesView, as: UTF8.self))))
            return .pending(hooks.call("send", url, body: .object(body), address: identity.address, on: request.eventLoop).map { reply in
                switch reply {
                case .allowed(let answer): return HookAnswers.sendOutcome(answer, headers: headers, body: messageBody)
                case .busy(let detail): return .failure(.authorizationUnavailable("the send hook \(detail)"))
                case .refused(let reason): return .failure(.sendRefused(reason))
                case .failed(let detail):
                    return hooks.settings.failOpen ? .success(.allow) : .failure(.authorizationUnavailable("the send hook \(detail)"))
                }
            })
        }
    }

    /// What a send hook's `200` answer does to the message: `drop`, a new `body`, added or
    /// replaced `headers`, or nothing.
}
