import NIOConcurrencyHelpers

/// A value that a configuration reload replaces while readers on any thread keep going: each
/// read returns the whole current value (one lock, no allocation), so that a reader never sees
/// half of an old value and half of a new one. Holding a read value keeps it alive; the next
/// read sees the replacement.
final class Reloadable<Value: Sendable>: Sendable {
    private let box: NIOLockedValueBox<Value>

    init(_ value: Value) {
        box = NIOLockedValueBox(value)
    }

    /// The value in force now.
    var current: Value { box.withLockedValue { $0 } }

    /// Makes `value` current and returns the value it replaced.
    @discardableResult
    func replace(with value: Value) -> Value {
        box.withLockedValue { current in
            let old = current
            current = value
            return old
        }
    }
}
