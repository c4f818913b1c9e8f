import Foundation
import Hub
import NIOCore
import NIOHTTP1

/// The topic read API: a topic's retained messages and who is subscribed to it, for whoever
/// may subscribe to it (README "History, resume and presence"). Every answer is a JSON object;
/// errors are `{"error": "..."}`.
///
/// | Request | Answer |
/// |---|---|
/// | `GET /api/history/topic/NAME[?since=EPOCH:OFFSET][&limit=N]` | 200 (see `historyJSON`): the kept messages after `since`, or the newest `limit` without it |
/// | `GET /api/presence/topic/NAME` | 200 (see `presenceJSON`); 404 without presence |
///
/// The destination follows the prefix as a path (`/api/history/topic/shouts`) or as one
/// percent-encoded segment (`/api/history/%2Ftopic%2Fshouts`); only single `/topic/`
/// destinations are accepted. The caller is an API key or a JWT as `Authorization: Bearer`,
/// or a JWT as `?token=` (as the WebSocket endpoint takes it), else anonymous; the access
/// rules of SUBSCRIBE apply, then the subscribe hook when one is configured. Without
/// credentials, a server with a connect hook answers 401: only the hook could say who an
/// anonymous client is. `$` destinations (`SystemTopics`) are for admin keys only.
///
/// 400: a malformed destination, `since` or `limit`, or percent-encoding; 401: a credential
/// that is not valid; 403: not allowed to subscribe there; 404: no presence configured; 405:
/// another method (with `Allow`); 503: the subscribe hook could not decide, or the server is
/// stopping.
struct TopicAPI {
    typealias Reply = APIReply

    /// What a request asks for, once parsed.
    enum Route: Equatable {
        case history(Destination, since: TopicPosition?, limit: Int)
        case presence(Destination)

        var destination: Destination {
            switch self {
            case .history(let destination, _, _), .presence(let destination): return destination
            }
        }
    }

    /// A parsed request: its route and the `?token=` credential, if any.
    struct Request: Equatable {
        var route: Route
        var token: String?
    }

    static let historyPrefix = "/api/history"
    static let presencePrefix = "/api/presence"
    /// Messages per history page when `limit` is not given, and the most it may ask.
    static let defaultLimit = 100
    static let maxLimit = 1_000
    /// Body and header bytes of the messages in one history page: past them the page ends
    /// early (`truncated`: ask again from its last offset). One message always fits.
    static let maxPageBytes = 4 << 20
    /// Longest destination accepted, in decoded bytes (a name is at most 255).
    static let maxDestinationLength = 1_024
    /// Longest query value accepted, in decoded bytes (a `?token=` JWT is the longest).
    static let maxQueryValueLength = 16_384

    let hub: Hub
    let gatekeeper: GatewayGatekeeper

    /// Whether `path` is this API's.
    static func owns(_ path: String) -> Bool {
        [historyPrefix, presencePrefix].contains { path == $0 || path.hasPrefix($0 + "/") }
    }

    /// Parses, authorizes and performs `head`; the future completes on `loop`, never fails.
    func answer(_ head: HTTPRequestHead, on loop: EventLoop) -> EventLoopFuture<Reply> {
        let request: Request
        switch Self.parse(method: head.method, uri: head.uri) {
        case .failure(let reply): return loop.makeSucceededFuture(reply)
        case .success(let parsed): request = parsed
        }
        let destination = request.route.destination
        return caller(head, token: request.token, on: loop).flatMap { result in
            switch result {
            case .failure(let reply): return loop.makeSucceededFuture(reply)
            case .success(let principal):
                return self.mayRead(destination, as: principal, on: loop).flatMap { refusal in
                    if let refusal { return loop.makeSucceededFuture(refusal) }
                    return self.perform(request.route, on: loop)
                }
            }
        }
    }

    // MARK: Parsing

    /// The request, or the 400, 404 or 405 to send.
    static func parse(method: HTTPMethod, uri: String) -> Result<Request, Reply> {
        guard method == .GET || method == .HEAD else { return .failure(.error(.methodNotAllowed, "use GET", allow: "GET, HEAD")) }
        let path = GatewayRouter.path(of: uri)
        let isHistory = path.hasPrefix(historyPrefix)
        let prefix = isHistory ? historyPrefix : presencePrefix
        let rest = path.dropFirst(prefix.count).dropFirst()
        guard !rest.isEmpty else { return .failure(.error(.notFound, "name a topic: \(prefix)/topic/NAME")) }
        guard let decoded = PercentEncoding.decode(rest, plusIsSpace: false, maxBytes: maxDestinationLength) else {
            return .failure(.error(.badRequest, "the destination is not valid percent-encoded UTF-8 of at most \(maxDestinationLength) bytes"))
        }
        // A topic is named by text a STOMP header can carry: no control characters.
        guard !decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            return .failure(.error(.badRequest, "the destination contains a control character"))
        }
        let text = decoded.hasPrefix("/") ? decoded : "/" + decoded
        guard let destination = Destination(text, allowWildcards: true) else {
            return .failure(.error(.badRequest, "bad destination \(text.prefix(300)): use \(prefix)/topic/NAME"))
        }
        guard destination.kind == .topic else { return .failure(.error(.badRequest, "history and presence are kept for topics only, not \(destination)")) }
        guard !destination.isPattern else { return .failure(.error(.badRequest, "name one topic: \(destination) has wildcards")) }

        let queryText = uri.firstIndex(of: "?").map { uri[uri.index(after: $0)...].prefix { $0 != "#" } } ?? ""
        guard let query = PercentEncoding.query(queryText, maxBytes: maxQueryValueLength) else {
            return .failure(.error(.badRequest, "the query string is not valid percent-encoded UTF-8, or a value is longer than \(maxQueryValueLength) bytes"))
        }
        let token = query["token"]
        guard isHistory else { return .success(Request(route: .presence(destination), token: token)) }
        var since: TopicPosition?
        if let text = query["since"] {
            guard let position = TopicPosition(text) else {
                return .failure(.error(.badRequest, "since must be <epoch>:<offset>, as a MESSAGE's perigee-epoch and perigee-offset"))
            }
            since = position
        }
        var limit = defaultLimit
        if let text = query["limit"] {
            guard text.utf8.count <= 7, let value = Int(text), (0...maxLimit).contains(value) else {
                return .failure(.error(.badRequest, "limit must be an integer from 0 to \(maxLimit)"))
            }
            limit = value
        }
        return .success(Request(route: .history(destination, since: since, limit: limit), token: token))
    }

    // MARK: Authorization

    /// Who is asking: an API key or JWT as `Authorization: Bearer`, a JWT as `?token=`, or
    /// anonymous; or the 401 to send.
    func caller(_ head: HTTPRequestHead, token queryToken: String?, on loop: EventLoop) -> EventLoopFuture<Result<Principal, Reply>> {
        // One reading of the settings for the whole decision (a reload may replace them).
        let current = gatekeeper.settings.current
        let token: String
        if let authorization = head.headers.first(name: "authorization") {
            switch Credential.bearer(authorization, apiKeys: current.apiKeys) {
            case .apiKey(let name):
                var identity = Identity(kind: .apiKey)
                identity.admin = current.apiKeyRoles[name]?.contains("admin") ?? false
                return loop.makeSucceededFuture(.success(identity.principal(user: name)))
            case .token(let bearer):
                token = bearer
            case .refused(let reason):
                let isBearer = authorization.split(separator: " ", maxSplits: 1).first?.lowercased() == "bearer"
                return loop.makeSucceededFuture(.failure(.error(.unauthorized, isBearer ? "unknown API key" : reason)))
            case .none:
                return loop.makeSucceededFuture(.failure(.error(.unauthorized, "Authorization must be Bearer <API key or token>")))
            }
        } else if let queryToken {
            guard VerifiedToken.looksLikeToken(queryToken) else {
                return loop.makeSucceededFuture(.failure(.error(.unauthorized, "the token in the URL is not a JWT")))
            }
            token = queryToken
        } else {
            guard current.hooks?.settings.connect == nil else {
                return loop.makeSucceededFuture(.failure(.error(
                    .unauthorized, "this server's connect hook decides who anonymous clients are: send Authorization: Bearer <API key or token>"
                )))
            }
            return loop.makeSucceededFuture(.success(.anonymous))
        }
        guard let tokens = current.tokens else {
            return loop.makeSucceededFuture(.failure(.error(.unauthorized, "no JWT key is configured")))
        }
        return loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }.map { result in
            switch result {
            case .success(let verified): return .success(GatewayGatekeeper.principal(of: verified, context: nil))
            case .failure(let error): return .failure(.error(.unauthorized, "unauthorized: \(error.detail)"))
            }
        }
    }

    /// Nil when `principal` may subscribe to `destination` (the access rules, then the
    /// subscribe hook); otherwise the 403 or 503 to send.
    func mayRead(_ destination: Destination, as principal: Principal, on loop: EventLoop) -> EventLoopFuture<Reply?> {
        guard gatekeeper.allows(principal, .subscribe, destination) else {
            return loop.makeSucceededFuture(.error(.forbidden, "you may not subscribe to \(destination)"))
        }
        guard gatekeeper.needsReview(principal, .subscribe, destination) else { return loop.makeSucceededFuture(nil) }
        let review = StompReview(principal: principal, sessionName: "http", action: .subscribe(destination), eventLoop: loop)
        let decided: EventLoopFuture<Result<StompReview.Outcome, StompError>>
        switch gatekeeper.review(review) {
        case .decided(let result): decided = loop.makeSucceededFuture(result)
        case .pending(let future): decided = future.hop(to: loop)
        }
        return decided.map { outcome -> Reply? in
            switch outcome {
            case .success: return nil
            case .failure(let error):
                let status: HTTPResponseStatus = error.message == "authorization unavailable" ? .serviceUnavailable : .forbidden
                return .error(status, "\(error.message): \(error.detail)")
            }
        }.recover { _ in .error(.serviceUnavailable, "authorization unavailable") }
    }

    // MARK: Answers

    /// Reads the topic at its owner shard.
    func perform(_ route: Route, on loop: EventLoop) -> EventLoopFuture<Reply> {
        let answered: EventLoopFuture<Reply>
        switch route {
        case .history(let destination, let since, let limit):
            answered = hub.history(of: destination, since: since, limit: limit, on: loop).map { page in
                Reply(status: .ok, body: Self.historyJSON(page, of: destination))
            }
        case .presence(let destination):
            answered = hub.presence(of: destination, on: loop).map { snapshot in
                guard let snapshot else {
                    return .error(.notFound, "\(destination) keeps no presence (see channels: in the configuration)")
                }
                return Reply(status: .ok, body: Self.presenceJSON(snapshot, of: destination))
            }
        }
        return answered.flatMapErrorThrowing { _ in .error(.serviceUnavailable, "the server is stopping") }
    }

    /// `destination`, `epoch` and `offset` (the topic's head), `recovered` (every message after
    /// `since` follows, or no `since` was given), `truncated` (more follow the last one: ask
    /// again with its offset) and `messages`, oldest first, each with `offset`, `epoch`,
    /// `message_id`, `headers` (the pass-through headers, `perigee-user` among them) and
    /// `body` (UTF-8 text) or, for a body that is not UTF-8, `body_base64`.
    static func historyJSON(_ page: HistoryPage, of destination: Destination) -> [String: JSONValue] {
        var messages: [JSONValue] = []
        var bytes = 0
        var truncated = page.truncated
        for message in page.messages {
            let size = message.body.readableBytes + message.headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count }
            if !messages.isEmpty, bytes + size > maxPageBytes {
                truncated = true
                break
            }
            bytes += size
            messages.append(messageJSON(message))
        }
        return [
            "destination": .string(destination.description),
            "epoch": .string(page.head.epoch),
            "offset": .number(Int(clamping: page.head.offset)),
            "recovered": .bool(page.recovered),
            "truncated": .bool(truncated),
            "messages": .array(messages),
        ]
    }

    private static func messageJSON(_ message: HubMessage) -> JSONValue {
        let body: (String, JSONValue) =
            message.bodyIsText
            ? ("body", .string(String(decoding: message.body.readableBytesView, as: UTF8.self)))
            : ("body_base64", .string(Data(message.body.readableBytesView).base64EncodedString()))
        return .object([
            ("offset", message.position.map { .number(Int(clamping: $0.offset)) } ?? .null),
            ("epoch", message.position.map { .string($0.epoch) } ?? .null),
            ("message_id", .string(message.id)),
            ("headers", .object(message.headers.map { ($0.name, .string($0.value)) })),
            body,
        ])
    }

    /// `destination`, `users` (each user once, sorted by id: `user`, `sessions` — its
    /// subscriptions to the destination — and `data`, its presence data or null) and
    /// `anonymous` (subscriptions of anonymous sessions, never listed).
    static func presenceJSON(_ snapshot: PresenceSnapshot, of destination: Destination) -> [String: JSONValue] {
        let users = snapshot.members.map { member in
            JSONValue.object([
                ("user", .string(member.user)),
                ("sessions", .number(member.sessions)),
                // Compact JSON the gateway wrote itself (`PresenceData`), never client text.
                ("data", member.data.map { .raw($0) } ?? .null),
            ])
        }
        return [
            "destination": .string(destination.description),
            "users": .array(users),
            "anonymous": .number(snapshot.anonymous),
        ]
    }
}
