/// Why the server refuses a client's frame. Each case is one ERROR frame (STOMP 1.2 "ERROR"):
/// `message` is the header, `detail` the body; after sending it the server closes the
/// connection, as the specification requires. The mapping to the wire lives only here.
public struct StompError: Error, Hashable, Sendable, CustomStringConvertible {
    private enum Base: Hashable, Sendable {
        case malformedFrame(String)
        case unknownCommand(String)
        case missingHeader(command: String, header: String)
        case invalidHeader(header: String, value: String)
        case unsupportedVersion(String)
        case notConnected(String)
        case alreadyConnected
        case frameTooLarge(limit: Int)
        case tooManyHeaders(limit: Int)
        case headerTooLong(limit: Int)
        case badEscape(String)
        case permissionDenied(action: String, destination: String)
        case invalidDestination(String)
        case unknownTransaction(String)
        case duplicateTransaction(String)
        case unknownSubscription(String)
        case duplicateSubscription(String)
        case unknownAck(String)
        case heartbeatTimeout
        case slowConsumer
        case unauthorized
        case unauthorizedBecause(String)
        case permissionDeniedBecause(action: String, destination: String, reason: String)
        case sendRefused(String)
        case tokenExpired
        case authorizationUnavailable(String)
        case inputAwaitingAuthorization(limit: Int)
        case tooManySubscriptions(limit: Int)
        case tooManyTransactions(limit: Int)
        case transactionTooLarge(String)
        case tooManyUnacknowledged(String)
        case connectTimeout(seconds: Double)
        case queueFull(String)
        case tooManyQueues(limit: Int)
        case serverShuttingDown
        case disconnectedByAdministrator
    }

    private let base: Base

    private init(_ base: Base) { self.base = base }

    public static func malformedFrame(_ why: String) -> Self { .init(.malformedFrame(why)) }
    public static func unknownCommand(_ command: String) -> Self { .init(.unknownCommand(command)) }
    public static func missingHeader(_ header: String, in command: StompCommand) -> Self {
        .init(.missingHeader(command: command.rawValue, header: header))
    }
    public static func invalidHeader(_ header: String, value: String) -> Self { .init(.invalidHeader(header: header, value: value)) }
    public static func unsupportedVersion(_ offered: String) -> Self { .init(.unsupportedVersion(offered)) }
    public static func notConnected(_ command: String) -> Self { .init(.notConnected(command)) }
    public static let alreadyConnected = Self(.alreadyConnected)
    public static func frameTooLarge(limit: Int) -> Self { .init(.frameTooLarge(limit: limit)) }
    public static func tooManyHeaders(limit: Int) -> Self { .init(.tooManyHeaders(limit: limit)) }
    public static func headerTooLong(limit: Int) -> Self { .init(.headerTooLong(limit: limit)) }
    public static func badEscape(_ sequence: String) -> Self { .init(.badEscape(sequence)) }
    public static func permissionDenied(_ action: String, destination: String) -> Self {
        .init(.permissionDenied(action: action, destination: destination))
    }
    public static func invalidDestination(_ destination: String) -> Self { .init(.invalidDestination(destination)) }
    public static func unknownTransaction(_ id: String) -> Self { .init(.unknownTransaction(id)) }
    public static func duplicateTransaction(_ id: String) -> Self { .init(.duplicateTransaction(id)) }
    public static func unknownSubscription(_ id: String) -> Self { .init(.unknownSubscription(id)) }
    public static func duplicateSubscription(_ id: String) -> Self { .init(.duplicateSubscription(id)) }
    public static func unknownAck(_ id: String) -> Self { .init(.unknownAck(id)) }
    public static let heartbeatTimeout = Self(.heartbeatTimeout)
    public static let slowConsumer = Self(.slowConsumer)
    public static let unauthorized = Self(.unauthorized)
    /// `unauthorized` with the reason: which credential was refused and why (no secret in it).
    public static func unauthorized(_ reason: String) -> Self { .init(.unauthorizedBecause(reason)) }
    /// `permission denied` with the application's reason (an authorization hook's answer).
    public static func permissionDenied(_ action: String, destination: String, reason: String) -> Self {
        .init(.permissionDeniedBecause(action: action, destination: destination, reason: reason))
    }
    /// The application refused a SEND (its send hook answered 403 with `reason`).
    public static func sendRefused(_ reason: String) -> Self { .init(.sendRefused(reason)) }
    /// The principal's expiry (a token's `exp`, a hook's `expires_in`) has passed.
    public static let tokenExpired = Self(.tokenExpired)
    /// An authorization hook failed (timeout, bad status, malformed answer): `detail` says which
    /// and how. Sessions fail closed.
    public static func authorizationUnavailable(_ detail: String) -> Self { .init(.authorizationUnavailable(detail)) }
    /// More than `limit` bytes arrived while a frame waited for an authorization decision.
    public static func inputAwaitingAuthorization(limit: Int) -> Self { .init(.inputAwaitingAuthorization(limit: limit)) }
    public static func tooManySubscriptions(limit: Int) -> Self { .init(.tooManySubscriptions(limit: limit)) }
    public static func tooManyTransactions(limit: Int) -> Self { .init(.tooManyTransactions(limit: limit)) }
    /// `limit`: which limit, in words ("more than 1000 frames").
    public static func transactionTooLarge(_ limit: String) -> Self { .init(.transactionTooLarge(limit)) }
    /// `limit`: which limit was reached, in words.
    public static func tooManyUnacknowledged(_ limit: String) -> Self { .init(.tooManyUnacknowledged(limit)) }
    public static func connectTimeout(seconds: Double) -> Self { .init(.connectTimeout(seconds: seconds)) }
    public static func queueFull(_ destination: String) -> Self { .init(.queueFull(destination)) }
    public static func tooManyQueues(limit: Int) -> Self { .init(.tooManyQueues(limit: limit)) }
    /// The server is draining (SIGTERM): the client should reconnect, to another node.
    public static let serverShuttingDown = Self(.serverShuttingDown)
    /// An operator ended the session (the admin API).
    public static let disconnectedByAdministrator = Self(.disconnectedByAdministrator)

    /// The configured limit this error reports reaching, by its metric label (`frame_size`,
    /// `subscriptions`, `outbound_bytes`, ...); nil for errors that are not a limit.
    public var limit: String? {
        switch base {
        case .frameTooLarge: return "frame_size"
        case .tooManyHeaders: return "headers"
        case .headerTooLong: return "header_length"
        case .inputAwaitingAuthorization: return "input_awaiting_decision"
        case .tooManySubscriptions: return "subscriptions"
        case .tooManyTransactions: return "transactions"
        case .transactionTooLarge: return "transaction_size"
        case .tooManyUnacknowledged: return "unacknowledged"
        case .connectTimeout: return "connect_timeout"
        case .heartbeatTimeout: return "heartbeat_timeout"
        case .slowConsumer: return "outbound_bytes"
        case .queueFull: return "queue_depth"
        case .tooManyQueues: return "queues"
        default: return nil
        }
    }

    /// The ERROR frame's `message` header: short, stable, greppable.
    public var message: String {
        switch base {
        case .malformedFrame: return "malformed frame"
        case .unknownCommand: return "unknown command"
        case .missingHeader(_, let header): return "missing header \(header)"
        case .invalidHeader(let header, _): return "invalid header \(header)"
        case .unsupportedVersion: return "unsupported version"
        case .notConnected: return "not connected"
        case .alreadyConnected: return "already connected"
        case .frameTooLarge: return "frame too large"
        case .tooManyHeaders: return "too many headers"
        case .headerTooLong: return "header too long"
        case .badEscape: return "bad escape"
        case .permissionDenied: return "permission denied"
        case .invalidDestination: return "invalid destination"
        case .unknownTransaction: return "unknown transaction"
        case .duplicateTransaction: return "duplicate transaction"
        case .unknownSubscription: return "unknown subscription"
        case .duplicateSubscription: return "duplicate subscription"
        case .unknownAck: return "unknown ack"
        case .heartbeatTimeout: return "heart-beat timeout"
        case .slowConsumer: return "slow consumer"
        case .unauthorized, .unauthorizedBecause: return "unauthorized"
        case .permissionDeniedBecause: return "permission denied"
        case .sendRefused: return "send refused"
        case .tokenExpired: return "token expired"
        case .authorizationUnavailable: return "authorization unavailable"
        case .inputAwaitingAuthorization: return "too much input awaiting authorization"
        case .tooManySubscriptions: return "too many subscriptions"
        case .tooManyTransactions: return "too many transactions"
        case .transactionTooLarge: return "transaction too large"
        case .tooManyUnacknowledged: return "too many unacknowledged messages"
        case .connectTimeout: return "connect timeout"
        case .queueFull: return "queue full"
        case .tooManyQueues: return "too many queues"
        case .serverShuttingDown: return "server shutting down"
        case .disconnectedByAdministrator: return "disconnected by administrator"
        }
    }

    /// The ERROR frame's body: what was wrong, specifically.
    public var detail: String {
        switch base {
        case .malformedFrame(let why): return "The frame could not be parsed: \(why)."
        case .unknownCommand(let command): return "\(command.prefix(64)) is not a STOMP client command."
        case .missingHeader(let command, let header): return "\(command) requires the \(header) header."
        case .invalidHeader(let header, let value): return "The value \"\(value.prefix(64))\" is not valid for \(header)."
        case .unsupportedVersion(let offered):
            return "Supported versions are 1.0, 1.1 and 1.2; the client offered \(offered.prefix(64))."
        case .notConnected(let command): return "\(command.prefix(64)) was sent before CONNECT."
        case .alreadyConnected: return "CONNECT was sent on a connected session."
        case .frameTooLarge(let limit): return "Frames are limited to \(limit) bytes."
        case .tooManyHeaders(let limit): return "Frames are limited to \(limit) headers."
        case .headerTooLong(let limit): return "Header lines are limited to \(limit) bytes."
        case .badEscape(let sequence): return "\(sequence) is not a valid escape sequence in a header."
        case .permissionDenied(let action, let destination): return "You may not \(action) \(destination.prefix(200))."
        case .invalidDestination(let destination):
            return "\(destination.prefix(200)) is not a destination: use /topic/NAME or /queue/NAME."
        case .unknownTransaction(let id): return "No open transaction is named \(id.prefix(64))."
        case .duplicateTransaction(let id): return "Transaction \(id.prefix(64)) is already open."
        case .unknownSubscription(let id): return "No subscription has id \(id.prefix(64))."
        case .duplicateSubscription(let id): return "Subscription id \(id.prefix(64)) is already in use."
        case .unknownAck(let id): return "No unacknowledged message has ack id \(id.prefix(64))."
        case .heartbeatTimeout: return "No frame or heart-beat arrived within the negotiated interval."
        case .slowConsumer: return "The connection fell too far behind its messages and was disconnected."
        case .unauthorized: return "The credentials were not accepted."
        case .unauthorizedBecause(let reason): return "The credentials were not accepted: \(reason.prefix(300))"
        case .permissionDeniedBecause(let action, let destination, let reason):
            return "You may not \(action) \(destination.prefix(200)): \(reason.prefix(300))"
        case .sendRefused(let reason): return "The message was not published: \(reason.prefix(300))"
        case .tokenExpired: return "The session's credentials expired; connect again with fresh ones."
        case .authorizationUnavailable(let detail): return "Access could not be decided: \(detail.prefix(300))"
        case .inputAwaitingAuthorization(let limit):
            return "At most \(limit) bytes may arrive while a frame waits for an authorization decision."
        case .tooManySubscriptions(let limit): return "A session may hold at most \(limit) subscriptions."
        case .tooManyTransactions(let limit): return "A session may hold at most \(limit) open transactions."
        case .transactionTooLarge(let limit): return "Open transactions are limited: this frame would make \(limit)."
        case .tooManyUnacknowledged(let limit):
            return "The client left \(limit) unacknowledged: ACK (or NACK) what it received."
        case .connectTimeout(let seconds): return "CONNECT must arrive within \(seconds) seconds of connecting."
        case .queueFull(let destination): return "\(destination.prefix(200)) holds as many messages as it may; try again later."
        case .tooManyQueues(let limit): return "At most \(limit) queues may exist; this SEND would create another."
        case .serverShuttingDown: return "The server is shutting down; connect again (to another node)."
        case .disconnectedByAdministrator: return "An administrator ended this session."
        }
    }

    public var description: String { "StompError(\(message): \(detail))" }
}
