import NIOCore

/// Decides who a session is and what it may do. The hub asks it at CONNECT, at each SUBSCRIBE
/// and SEND, and for each delivery on a pattern subscription; how it decides (API keys, JWT,
/// the application's HTTP hooks) is the gateway's business.
///
/// Two of its questions are pure and synchronous (`allows`, `needsReview`): the session state
/// machine asks them itself. The other two may take time (a token verified off the loop, an
/// HTTP call): the driver (`StompConnection`) asks them and hands the answer back to the
/// session, which meanwhile takes no further frame of that client.
public protocol StompGatekeeper: Sendable {
    /// The principal of a CONNECT. Fails with `StompError.unauthorized(_:)` (credentials
    /// refused) or `.authorizationUnavailable(_:)` (the decision could not be made). A pending
    /// verdict must complete (a timeout is the gatekeeper's), and completes on any loop.
    func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal>

    /// Whether the principal's rules allow the action on the destination (for a pattern
    /// subscription, the pattern itself; for each message it delivers, the concrete
    /// destination). Pure: called on the delivery path.
    func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool

    /// Whether an action the rules allow must also be reviewed (`review`) before it happens.
    /// Pure; false keeps SUBSCRIBE and SEND on the synchronous path.
    func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool

    /// Reviews a SUBSCRIBE or SEND. Fails with `.permissionDenied(_:destination:reason:)`,
    /// `.sendRefused(_:)` or `.authorizationUnavailable(_:)`.
    func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome>
}

/// A gatekeeper's answer: now, or later.
public enum StompVerdict<Value: Sendable> {
    case decided(Result<Value, StompError>)
    /// Completes with the decision; a failed future counts as `authorization unavailable`.
    case pending(EventLoopFuture<Result<Value, StompError>>)
}

/// A CONNECT to authenticate.
public struct StompConnectRequest: Sendable {
    /// The CONNECT (or STOMP) frame's headers, credentials included.
    public var headers: StompHeaders
    /// The session's name (the CONNECTED `session` header).
    public var sessionName: String
    /// What the transport knew of the client before CONNECT (the gateway's handshake details:
    /// address, HTTP headers, a URL token), opaque to the hub.
    public var client: (any Sendable)?
    /// The loop the session lives on.
    public var eventLoop: EventLoop

    public init(headers: StompHeaders, sessionName: String, client: (any Sendable)?, eventLoop: EventLoop) {
        self.headers = headers
        self.sessionName = sessionName
        self.client = client
        self.eventLoop = eventLoop
    }
}

/// A SUBSCRIBE or SEND for the gatekeeper to review.
public struct StompReview: Sendable {
    public enum Action: Sendable {
        case subscribe(Destination)
        /// `headers` are the pass-through headers the message would carry.
        case send(Destination, headers: StompHeaders, body: ByteBuffer)
    }

    /// What happens to a reviewed action.
    public enum Outcome: Sendable {
        /// Go ahead (a SEND unchanged).
        case allow
        /// Publish this instead (the body and the pass-through headers). Headers the hub sets
        /// itself are dropped again, so a reviewer cannot forge them either.
        case replace(headers: StompHeaders, body: ByteBuffer)
        /// Do not publish, and do not fail: a requested RECEIPT is still sent.
        case drop
    }

    public var principal: Principal
    public var sessionName: String
    public var action: Action
    public var eventLoop: EventLoop

    public init(principal: Principal, sessionName: String, action: Action, eventLoop: EventLoop) {
        self.principal = principal
        self.sessionName = sessionName
        self.action = action
        self.eventLoop = eventLoop
    }
}

/// Everyone is anonymous and may do anything (the hub's default; tests).
public struct OpenGatekeeper: StompGatekeeper {
    public init() {}

    public func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> { .decided(.success(.anonymous)) }

    public func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool { true }

    public func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool { false }

    public func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> { .decided(.success(.allow)) }
}
