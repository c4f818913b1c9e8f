import NIOConcurrencyHelpers
import NIOCore

/// Every live SockJS session of one endpoint, by id. Shared by all event loops: a request may
/// arrive on any loop, and is handed to the loop that owns its session.
public final class SockJSSessionRegistry: Sendable {
    public struct Entry: Sendable {
        public let eventLoop: EventLoop
        public let session: NIOLoopBoundBox<SockJSSession>
    }

    private let entries = NIOLockedValueBox<[String: Entry]>([:])

    public init() {}

    public func entry(_ id: String) -> Entry? {
        entries.withLockedValue { $0[id] }
    }

    public var count: Int { entries.withLockedValue { $0.count } }

    /// Finds the session or creates it on `eventLoop` (the caller's loop). Returns nil when
    /// it exists on another loop; the caller then hops to `entry(id)`'s loop.
    public func findOrCreate(
        _ id: String,
        on eventLoop: EventLoop,
        configuration: SockJSConfiguration,
        makeApplication: () -> any SockJSApplication
    ) -> (session: SockJSSession, created: Bool)? {
        if let existing = entry(id) {
            guard existing.eventLoop === eventLoop else { return nil }
            return (existing.session.value, false)
        }
        let session = SockJSSession(
            id: id,
            eventLoop: eventLoop,
            configuration: configuration,
            application: makeApplication(),
            onFinished: { [weak self] finished in self?.remove(finished.id, eventLoop: finished.eventLoop) }
        )
        let box = NIOLoopBoundBox(session, eventLoop: eventLoop)
        let winner: Entry = entries.withLockedValue { entries in
            if let raced = entries[id] { return raced }
            let entry = Entry(eventLoop: eventLoop, session: box)
            entries[id] = entry
            return entry
        }
        guard winner.eventLoop === eventLoop, winner.session.value === session else {
            session.abort()
            return nil
        }
        return (session, true)
    }

    private func remove(_ id: String, eventLoop: EventLoop) {
        entries.withLockedValue { entries in
            if entries[id]?.eventLoop === eventLoop { entries[id] = nil }
        }
    }
}
