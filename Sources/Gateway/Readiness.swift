import NIOConcurrencyHelpers

/// Whether the gateway should be sent traffic, for `GET /readyz`: not before every listener
/// is bound, and not once it has begun to stop.
final class Readiness: Sendable {
    enum State: String, Sendable {
        case starting
        case ready
        case stopping
    }

    private let box = NIOLockedValueBox(State.starting)

    var state: State { box.withLockedValue { $0 } }

    func set(_ state: State) { box.withLockedValue { $0 = state } }
}
