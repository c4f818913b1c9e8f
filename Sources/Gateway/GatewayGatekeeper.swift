import Foundation
import Hub
import Logging
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
///
/// Every decision reads the settings in force at that moment (`GatekeeperSettings`, replaced
/// whole by a reload): a session keeps the principal it connected with, but its next SUBSCRIBE
/// or SEND, and each delivery on a pattern subscription, follow the rules of the moment.
///
/// Refused credentials are logged at `notice` with the session, transport, client address and
/// the reason — never the credential (passcode, API key, token) itself.
struct GatewayGatekeeper: StompGatekeeper {
    /// Shared by every copy of this gatekeeper (the hub's, the HTTP API's).
    let settings: Reloadable<GatekeeperSettings>
    private let logger: Logger

    init(settings: Reloadable<GatekeeperSettings>, logger: Logger = Logger(label: "perigee")) {
        self.settings = settings
        self.logger = logger
    }

    init(
        policy: AccessPolicy,
        apiKeys: [String: String],
        apiKeyRoles: [String: Set<String>] = [:],
        tokens: TokenVerifier?,
        hooks: HookClient?,
        logger: Logger = Logger(label: "perigee")
    ) {
        let settings = GatekeeperSettings(policy: policy, apiKeys: apiKeys, apiKeyRoles: apiKeyRoles, tokens: tokens, hooks: hooks)
        self.init(settings: Reloadable(settings), logger: logger)
    }

    /// The access rules in force now.
    var policy: AccessPolicy { settings.current.policy }

    // MARK: CONNECT

    func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> {
        let context = request.client as? ClientContext
        let current = settings.current
        let hooks = current.hooks
        switch Self.credential(in: request.headers, context: context, settings: current) {
        case .refused(let reason):
            logRefusal("credential refused", reason: reason, request: request, context: context)
            return .decided(.failure(.unauthorized(reason)))
        case .apiKey(let name):
            var identity = Identity(kind: .apiKey, transport: context?.transport, address: context?.address?.ipAddress)
            identity.admin = current.apiKeyRoles[name]?.contains("admin") ?? false
            return .decided(.success(identity.principal(user: name)))
        case .none:
            guard hooks?.settings.connect != nil else {
                // Hooks ask about sessions by transport: give each session a principal of its own then.
                guard hooks != nil else { return .decided(.success(.anonymous)) }
                return .decided(.success(Identity(kind: .anonymous, transport: context?.transport, address: context?.address?.ipAddress).principal(user: nil)))
            }
            return .pending(self.connectHook(request, context: context, token: nil, settings: current))
        case .token(let token):
            guard let tokens = current.tokens else {
                logRefusal("token refused", reason: "no JWT key is configured", request: request, context: context)
                return .decided(.failure(.unauthorized("no JWT key is configured")))
            }
            let loop = request.eventLoop
            let verified = loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }
            return .pending(verified.flatMap { result in
                switch result {
                case .failure(let error):
                    self.logRefusal("token refused", reason: error.detail, request: request, context: context)
                    return loop.makeSucceededFuture(.failure(error))
                case .success(let token):
                    guard hooks?.settings.connect != nil else { return loop.makeSucceededFuture(.success(Self.principal(of: token, context: context))) }
                    return self.connectHook(request, context: context, token: token, settings: current)
                }
            })
        }
    }

    /// One `notice` line about a refused CONNECT: which session, from where, and why. The
    /// request's headers are not logged (they hold the passcode or the token).
    private func logRefusal(_ message: Logger.Message, reason: String, request: StompConnectRequest, context: ClientContext?) {
        var metadata: Logger.Metadata = ["session": .string(request.sessionName), "reason": .string(reason)]
        if let context {
            metadata["transport"] = .string(context.transport)
            if let address = context.address?.ipAddress { metadata["address"] = .string(address) }
        }
        logger.notice(message, metadata: metadata)
    }

    /// Finds the credential of a CONNECT (see the type's documentation for the order).
    func credential(in headers: StompHeaders, context: ClientContext?) -> Credential {
        Self.credential(in: headers, context: context, settings: settings.current)
    }

    private static func credential(in headers: StompHeaders, context: ClientContext?, settings: GatekeeperSettings) -> Credential {
        Credential.find(in: headers, context: context, apiKeys: settings.apiKeys, acceptsTokens: settings.tokens != nil)
    }

    /// Whether the API key `name` holds the `admin` role.
    func isAdmin(keyNamed name: String) -> Bool {
        settings.current.apiKeyRoles[name]?.contains("admin") ?? false
    }

    func bearer(_ authorization: String) -> Credential {
        Credential.bearer(authorization, apiKeys: settings.current.apiKeys)
    }

    /// The principal of a verified token without a connect hook.
    static func principal(of token: VerifiedToken, context: ClientContext?) -> Principal {
        let identity = Identity(kind: .jwt, narrowing: token.narrowing, claims: token.claims, transport: context?.transport, address: context?.address?.ipAddress)
        return identity.principal(user: token.subject, expiry: token.expiry.map(HookAnswers.deadline(at:)), presence: token.presence)
    }

    /// Asks the connect hook about a CONNECT, with the settings read when the CONNECT arrived.
    private func connectHook(
        _ request: StompConnectRequest,
        context: ClientContext?,
        token: VerifiedToken?,
        settings: GatekeeperSettings
    ) -> EventLoopFuture<Result<Principal, StompError>> {
        guard let hooks = settings.hooks, let url = hooks.settings.connect else { preconditionFailure("connectHook without a connect hook") }
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
        let policy = settings.policy
        return hooks.call("connect", url, body: .object(body), address: context?.address?.ipAddress, on: request.eventLoop).map { reply in
            switch reply {
            case .refused(let reason):
                self.logRefusal("connect hook refused", reason: reason, request: request, context: context)
                return .failure(.unauthorized(reason))
            case .busy(let detail):
                return .failure(.authorizationUnavailable("the connect hook \(detail)"))
            case .failed(let detail):
                guard hooks.settings.failOpen else { return .failure(.authorizationUnavailable("the connect hook \(detail)")) }
                if let token { return .success(Self.principal(of: token, context: context)) }
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
        let current = settings.current
        guard !current.apiKeys.isEmpty || current.tokens != nil else {
            guard isLoopback else {
                return loop.makeSucceededFuture(.failure(Failure(status: .forbidden, message: "no API keys are configured: only loopback clients may publish")))
            }
            return loop.makeSucceededFuture(.success(.anonymous))
        }
        guard let authorization = head.headers.first(name: "authorization") else {
            return loop.makeSucceededFuture(.failure(Failure(status: .unauthorized, message: "missing Authorization: Bearer <api key or token>")))
        }
        switch Credential.bearer(authorization, apiKeys: current.apiKeys) {
        case .none:
            return loop.makeSucceededFuture(.success(.anonymous))
        case .refused(let reason):
            let known = authorization.split(separator: " ", maxSplits: 1).first?.lowercased() == "bearer"
            return loop.makeSucceededFuture(.failure(Failure(status: known ? .forbidden : .unauthorized, message: known ? "unknown API key" : reason)))
        case .apiKey(let name):
            return loop.makeSucceededFuture(.success(Identity(kind: .apiKey).principal(user: name)))
        case .token(let token):
            guard let tokens = current.tokens else { return loop.makeSucceededFuture(.failure(Failure(status: .forbidden, message: "unknown API key"))) }
            return loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }.map { result in
                switch result {
                case .success(let token): return .success(Self.principal(of: token, context: nil))
                case .failure(let error): return .failure(Failure(status: .unauthorized, message: "unauthorized: \(error.detail)"))
                }
            }
        }
    }

    // MARK: SUBSCRIBE and SEND

    func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        // The server's own topics, whatever the configured rules say: admins read, nobody writes.
        if SystemTopics.isReserved(destination) {
            return action == .subscribe && Identity.of(principal).admin
        }
        let current = settings.current
        // A subscribe hook that decides destination by destination never sees what a pattern
        // delivers: patterns are refused unless the configuration says the hook judges them.
        if action == .subscribe, destination.isPattern, let hooks = current.hooks, hooks.settings.subscribe != nil, !hooks.settings.subscribePatterns {
            return false
        }
        return current.policy.allows(principal, action, destination)
    }

    func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
        let current = settings.current
        guard let hooks = current.hooks, Identity.of(principal).kind != .apiKey else { return false }
        switch action {
        case .subscribe:
            return hooks.settings.subscribe != nil
        case .send:
            guard hooks.settings.send != nil else { return false }
            let path = destination.description
            return current.sendPrefixes.contains { $0.matches(path) }
        }
    }

    func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> {
        guard let hooks = settings.current.hooks else { return .decided(.success(.allow)) }
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
