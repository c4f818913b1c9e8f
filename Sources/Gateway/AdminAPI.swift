import Foundation
import Hub
import NIOCore
import NIOHTTP1

/// The admin API: operators list and end sessions, revoke subscriptions and list
/// destinations, with an API key that holds the `admin` role (`api_keys.NAME.roles`) as
/// `Authorization: Bearer <secret>`. Every answer is a JSON object; errors are
/// `{"error": "..."}`.
///
/// | Request | Answer |
/// |---|---|
/// | `GET /api/sessions[?user=ID]` | 200 `{"sessions": [...]}` (see `sessionJSON`) |
/// | `DELETE /api/sessions/ID` | 200 `{"disconnected": 1}`, 404 |
/// | `GET`, `DELETE /api/users/ID/sessions` | as `?user=ID`; 200 `{"disconnected": n}` |
/// | `DELETE /api/sessions/ID/subscriptions?destination=D` | 200 `{"unsubscribed": n}`, 404 |
/// | `GET /api/destinations` | 200 `{"destinations": [{"destination", "subscribers"}]}` |
///
/// 401: no `Authorization`, or a credential that is no known key (nor a valid token); 403:
/// a key or token without the `admin` role; 400: a path segment or query value that is not
/// valid percent-encoded UTF-8, or too long; 404: an unknown path or session; 405: another
/// method (with `Allow`). A disconnected session gets ERROR `disconnected by administrator`,
/// then its transport closes.
struct AdminAPI {
    /// What an admin request asks for, once authorized and parsed.
    enum Route: Equatable {
        case listSessions(user: String?)
        case disconnectSession(String)
        case disconnectUser(String)
        case unsubscribe(session: String, destination: String)
        case listDestinations
    }

    typealias Reply = APIReply

    /// Longest session id accepted in a path, in bytes (ids are `session-` and base 36).
    static let maxSessionIDLength = 128
    /// Longest destination accepted in `?destination=`, in bytes (a name is at most 255).
    static let maxDestinationLength = 1_024

    let hub: Hub
    let gatekeeper: GatewayGatekeeper

    /// Whether `path` is the admin API's.
    static func owns(_ path: String) -> Bool {
        path == "/api/destinations" || path == "/api/sessions" || path.hasPrefix("/api/sessions/") || path.hasPrefix("/api/users/")
    }

    /// Authorizes, parses and performs `head`; the future completes on `loop`, never fails.
    func answer(_ head: HTTPRequestHead, on loop: EventLoop) -> EventLoopFuture<Reply> {
        authorize(head, on: loop).flatMap { refusal in
            if let refusal { return loop.makeSucceededFuture(refusal) }
            switch Self.route(method: head.method, uri: head.uri) {
            case .failure(let reply): return loop.makeSucceededFuture(reply)
            case .success(let route): return self.perform(route, on: loop)
            }
        }
    }

    // MARK: Authorization

    /// Nil for an admin; otherwise the 401 or 403 to send.
    func authorize(_ head: HTTPRequestHead, on loop: EventLoop) -> EventLoopFuture<Reply?> {
        guard let authorization = head.headers.first(name: "authorization") else {
            return loop.makeSucceededFuture(.error(.unauthorized, "missing Authorization: Bearer <admin API key>"))
        }
        // One reading of the settings for the whole decision (a reload may replace them).
        let current = gatekeeper.settings.current
        switch Credential.bearer(authorization, apiKeys: current.apiKeys) {
        case .apiKey(let name):
            guard current.apiKeyRoles[name]?.contains("admin") ?? false else {
                return loop.makeSucceededFuture(.error(.forbidden, "this API key lacks the admin role"))
            }
            return loop.makeSucceededFuture(nil)
        case .token(let token):
            // Only API keys hold roles: a valid token is someone, but not an admin.
            guard let tokens = current.tokens else { return loop.makeSucceededFuture(.error(.unauthorized, "unknown API key")) }
            return loop.makeFutureWithTask { await tokens.verify(token, now: Date().timeIntervalSince1970) }.map { result in
                switch result {
                case .success: return .error(.forbidden, "the admin API needs an API key with the admin role")
                case .failure(let error): return .error(.unauthorized, "unauthorized: \(error.detail)")
                }
            }
        case .refused(let reason):
            let isBearer = authorization.split(separator: " ", maxSplits: 1).first?.lowercased() == "bearer"
            return loop.makeSucceededFuture(.error(.unauthorized, isBearer ? "unknown API key" : reason))
        case .none:
            return loop.makeSucceededFuture(.error(.unauthorized, "missing Authorization: Bearer <admin API key>"))
        }
    }

    // MARK: Routing

    /// The route of an authorized request, or the 400, 404 or 405 to send.
    static func route(method: HTTPMethod, uri: String) -> Result<Route, Reply> {
        let path = GatewayRouter.path(of: uri)
        let queryText = uri.firstIndex(of: "?").map { uri[uri.index(after: $0)...].prefix { $0 != "#" } } ?? ""
        guard let query = PercentEncoding.query(queryText, maxBytes: maxDestinationLength) else {
            return .failure(.error(.badRequest, "the query string is not valid percent-encoded UTF-8, or a value is longer than \(maxDestinationLength) bytes"))
        }
        let segments = path.dropFirst("/api/".count).split(separator: "/", omittingEmptySubsequences: false)
        let reading = method == .GET || method == .HEAD
        switch segments.count {
        case 1 where segments[0] == "destinations":
            guard reading else { return .failure(.error(.methodNotAllowed, "use GET", allow: "GET, HEAD")) }
            return .success(.listDestinations)
        case 1 where segments[0] == "sessions":
            guard reading else { return .failure(.error(.methodNotAllowed, "use GET", allow: "GET, HEAD")) }
            guard let user = query["user"] else { return .success(.listSessions(user: nil)) }
            return checkedUser(user).map { Route.listSessions(user: $0) }
        case 2 where segments[0] == "sessions":
            guard method == .DELETE else { return .failure(.error(.methodNotAllowed, "use DELETE", allow: "DELETE")) }
            return sessionID(segments[1]).map { Route.disconnectSession($0) }
        case 3 where segments[0] == "sessions" && segments[2] == "subscriptions":
            guard method == .DELETE else { return .failure(.error(.methodNotAllowed, "use DELETE", allow: "DELETE")) }
            guard let destination = query["destination"], !destination.isEmpty else {
                return .failure(.error(.badRequest, "name the destination: ?destination=<percent-encoded destination>"))
            }
            return sessionID(segments[1]).map { Route.unsubscribe(session: $0, destination: destination) }
        case 3 where segments[0] == "users" && segments[2] == "sessions":
            guard reading || method == .DELETE else {
                return .failure(.error(.methodNotAllowed, "use GET or DELETE", allow: "GET, HEAD, DELETE"))
            }
            guard let user = PercentEncoding.decode(segments[1], plusIsSpace: false, maxBytes: Identity.maxUserLength) else {
                return .failure(.error(.badRequest, "the user id is not valid percent-encoded UTF-8 of at most \(Identity.maxUserLength) bytes"))
            }
            return checkedUser(user).map { method == .DELETE ? Route.disconnectUser($0) : Route.listSessions(user: $0) }
        default:
            return .failure(.error(.notFound, "no such admin resource; see GET /api/sessions"))
        }
    }

    private static func sessionID(_ segment: Substring) -> Result<String, Reply> {
        guard let id = PercentEncoding.decode(segment, plusIsSpace: false, maxBytes: maxSessionIDLength) else {
            return .failure(.error(.badRequest, "the session id is not valid percent-encoded UTF-8 of at most \(maxSessionIDLength) bytes"))
        }
        guard !id.isEmpty else { return .failure(.error(.notFound, "no such admin resource; see GET /api/sessions")) }
        return .success(id)
    }

    private static func checkedUser(_ user: String) -> Result<String, Reply> {
        guard !user.isEmpty, user.utf8.count <= Identity.maxUserLength else {
            return .failure(.error(.badRequest, "a user id is 1 to \(Identity.maxUserLength) bytes"))
        }
        return .success(user)
    }

    // MARK: Actions

    /// Performs an authorized request on the hub.
    func perform(_ route: Route, on loop: EventLoop) -> EventLoopFuture<Reply> {
        let answered: EventLoopFuture<Reply>
        switch route {
        case .listSessions(let user):
            answered = hub.sessions(on: loop).map { sessions in
                let listed = sessions.filter { user == nil || $0.user == user }.map(Self.sessionJSON)
                return Reply(status: .ok, body: ["sessions": .array(listed)])
            }
        case .disconnectSession(let id):
            answered = hub.terminate(matching: { $0.id == id }, with: .disconnectedByAdministrator, on: loop).map { count in
                count == 0 ? .error(.notFound, "no session \(id)") : Reply(status: .ok, body: ["disconnected": .number(count)])
            }
        case .disconnectUser(let user):
            answered = hub.terminate(matching: { $0.user == user }, with: .disconnectedByAdministrator, on: loop).map { count in
                Reply(status: .ok, body: ["disconnected": .number(count)])
            }
        case .unsubscribe(let id, let destination):
            answered = hub.revoke(session: id, destination: destination, on: loop).map { count in
                guard let count else { return .error(.notFound, "no session \(id)") }
                return Reply(status: .ok, body: ["unsubscribed": .number(count)])
            }
        case .listDestinations:
            answered = hub.destinationCounts(on: loop).map { counts in
                let entries = counts.sorted { $0.key < $1.key }.map { name, count in
                    JSONValue.object([("destination", .string(name)), ("subscribers", .number(count))])
                }
                return Reply(status: .ok, body: ["destinations": .array(entries)])
            }
        }
        return answered.flatMapErrorThrowing { _ in .error(.serviceUnavailable, "the server is stopping") }
    }

    /// One session of `GET /api/sessions`: `id`, `user` (null when anonymous), `kind` (how it
    /// authenticated), `transport`, `address` (`ip:port`, or null), `subscriptions` (the
    /// destinations, one per subscription), `age_s` (seconds since the connection opened),
    /// `messages_in`, `messages_out`, `bytes_in`, `bytes_out` (STOMP bytes, without transport
    /// framing) and `connected` (CONNECT answered).
    static func sessionJSON(_ session: StompSessionSnapshot) -> JSONValue {
        func number(_ value: UInt64) -> JSONValue { .number(Int(clamping: value)) }
        let members: [(String, JSONValue)] = [
            ("id", .string(session.id)),
            ("user", session.user.map { .string($0) } ?? .null),
            ("kind", .string(session.kind)),
            ("transport", .string(session.label.transport)),
            ("address", session.label.address.map { .string($0) } ?? .null),
            ("subscriptions", .array(session.subscriptions.map { .string($0) })),
            ("age_s", .double((session.ageSeconds * 1_000).rounded() / 1_000)),
            ("messages_in", number(session.traffic.messagesIn)),
            ("messages_out", number(session.traffic.messagesOut)),
            ("bytes_in", number(session.traffic.bytesIn)),
            ("bytes_out", number(session.traffic.bytesOut)),
            ("connected", .bool(session.connected)),
        ]
        return .object(members)
    }
}
