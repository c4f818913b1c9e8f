import NIOConcurrencyHelpers
import NIOCore

/// Every live SockJS session of one endpoint, by id. Shared by all event loops: a request may
/// arrive on any loop, and is handed to the loop that owns its session.
///
/// Bounded: at most `SockJSConfiguration.maxSessions` sessions, and
/// `maxSessionsPerAddress` opened from one client address.
public final class SockJSSessionRegistry: Sendable {
    public struct Entry: Sendable {
        public let eventLoop: EventLoop
        public let session: NIOLoopBoundBox<SockJSSession>
        fileprivate let address: String
    }

    /// What `findOrCreate` found.
    public enum Lookup {
        /// The session, on the caller's loop; `created` when this request opened it.
        case here(SockJSSession, created: Bool)
        /// It lives on another loop: hop to `entry(id)`'s loop.
        case elsewhere
        /// No session could be opened: a limit was reached (the reason is for the 503 body).
        case refused(String)
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var perAddress: [String: Int] = [:]
        /// False once `goAway` ran: a server that is draining opens no sessions.
        var admitting = true
    }

    private let state = NIOLockedValueBox(State())

    public init() {}

    public func entry(_ id: String) -> Entry? {
        state.withLockedValue { $0.entries[id] }
    }

    public var count: Int { state.withLockedValue { $0.entries.count } }

    /// Sessions opened from `address`.
    public func count(from address: String) -> Int { state.withLockedValue { $0.perAddress[address] ?? 0 } }

    /// Finds the session or creates it on `eventLoop` (the caller's loop) for a client at
    /// `address` (its IP address; "" when unknown).
    public func findOrCreate(
        _ id: String,
        on eventLoop: EventLoop,
        address: String,
        configuration: SockJSConfiguration,
        makeApplication: () -> any SockJSApplication
    ) -> Lookup {
        if let existing = entry(id) {
            guard existing.eventLoop === eventLoop else { return .elsewhere }
            return .here(existing.session.value, created: false)
        }
        if let refusal = admissionRefusal(address: address, configuration: configuration) { return .refused(refusal) }
        let session = SockJSSession(
            id: id,
            eventLoop: eventLoop,
            configuration: configuration,
            application: makeApplication(),
            onFinished: { [weak self] finished in self?.remove(finished.id, eventLoop: finished.eventLoop) }
        )
        let box = NIOLoopBoundBox(session, eventLoop: eventLoop)
        enum Outcome { case inserted, raced(Entry), refused(String) }
        let outcome: Outcome = state.withLockedValue { state in
            if let raced = state.entries[id] { return .raced(raced) }
            if let refusal = Self.refusal(state, address: address, configuration: configuration) { return .refused(refusal) }
            state.entries[id] = Entry(eventLoop: eventLoop, session: box, address: address)
            state.perAddress[address, default: 0] += 1
            return .inserted
        }
        switch outcome {
        case .inserted:
            return .here(session, created: true)
        case .raced(let winner):
            session.abort()
            return winner.eventLoop === eventLoop ? .here(winner.session.value, created: false) : .elsewhere
        case .refused(let reason):
            session.abort()
            return .refused(reason)
        }
    }

    /// Why a new session from `address` would be refused now (for a 503 body), or nil.
    public func admissionRefusal(address: String, configuration: SockJSConfiguration) -> String? {
        state.withLockedValue { Self.refusal($0, address: address, configuration: configuration) }
    }

    private static let addressLimitText = "too many SockJS sessions: your address holds its limit of "

    private static func refusal(_ state: State, address: String, configuration: SockJSConfiguration) -> String? {
        if !state.admitting {
            return "server shutting down: connect again (to another node)"
        }
        if state.entries.count >= configuration.maxSessions {
            return "too many SockJS sessions: the server holds its limit of \(configuration.maxSessions) SockJS sessions"
        }
        if (state.perAddress[address] ?? 0) >= configuration.maxSessionsPerAddress {
            return addressLimitText + "\(configuration.maxSessionsPerAddress) SockJS sessions"
        }
        return nil
    }

    // MARK: Draining

    /// Stops admitting sessions (new ones are refused with 503 from now on) and closes every
    /// open session with `c[3000,"Go away!"]` (SockJS 0.3: the server closing the session),
    /// each on its own loop after what that loop already queued, so what was sent before
    /// reaches the client first. Sessions already closed (a STOMP session told to go away by
    /// its hub) are left as they are. The future, on `loop`, gives how many this call closed.
    public func goAway(on loop: EventLoop) -> EventLoopFuture<Int> {
        let entries = state.withLockedValue { state in
            state.admitting = false
            return Array(state.entries.values)
        }
        let closed = entries.map { entry in
            entry.eventLoop.submit { () -> Int in
                let session = entry.session.value
                guard !session.isClosed else { return 0 }
                session.close(code: 3000, reason: "Go away!")
                return 1
            }
        }
        return EventLoopFuture.whenAllSucceed(closed, on: loop).map { $0.reduce(0, +) }
    }

    /// How many sessions still owe their client a close frame (`SockJSSession.awaitsFarewell`),
    /// each read on its own loop; the future completes on `loop`.
    public func awaitingFarewell(on loop: EventLoop) -> EventLoopFuture<Int> {
        let entries = state.withLockedValue { Array($0.entries.values) }
        let waiting = entries.map { entry in
            entry.eventLoop.submit { entry.session.value.awaitsFarewell ? 1 : 0 }
        }
        return EventLoopFuture.whenAllSucceed(waiting, on: loop).map { $0.reduce(0, +) }
    }

    /// The limit a refusal text of this registry names, as a fixed metric label:
    /// `max_sessions_per_address` or `max_sessions`.
    public static func reason(ofRefusal refusal: String) -> String {
        refusal.hasPrefix(addressLimitText) ? "max_sessions_per_address" : "max_sessions"
    }

    private func remove(_ id: String, eventLoop: EventLoop) {
        state.withLockedValue { state in
            guard let entry = state.entries[id], entry.eventLoop === eventLoop else { return }
            state.entries[id] = nil
            let remaining = (state.perAddress[entry.address] ?? 1) - 1
            state.perAddress[entry.address] = remaining > 0 ? remaining : nil
        }
    }
}
