import NIOConcurrencyHelpers

/// Whether the gateway should be sent traffic, for `GET /readyz`: not before every listener
/// is bound, and not once it has begun to drain or stop.
final class Readiness: Sendable {
    enum State: String, Sendable {
        case starting
        case ready
        /// `GatewayServer.drain` began: clients are being told to go, new ones are refused.
        case draining
        case stopping
    }

    private let box = NIOLockedValueBox(State.starting)

    var state: State { box.withLockedValue { $0 } }

    /// Whether a drain began: new sessions, upgrades and acknowledged publishes are refused.
    var isDraining: Bool { state == .draining }

    func set(_ state: State) { box.withLockedValue { $0 = state } }
}
