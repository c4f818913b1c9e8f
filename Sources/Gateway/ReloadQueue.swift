import NIOConcurrencyHelpers

/// Runs reloads one at a time, in the order they were asked for: a second SIGHUP during a
/// reload waits for the first to finish instead of interleaving with it.
final class ReloadQueue: Sendable {
    private let tail = NIOLockedValueBox<Task<Void, Never>?>(nil)

    /// Runs `body` after every body enqueued before it has finished, and returns its result.
    func run<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) async -> Value {
        let task: Task<Value, Never> = tail.withLockedValue { tail in
            let previous = tail
            let task = Task {
                await previous?.value
                return await body()
            }
            tail = Task { _ = await task.value }
            return task
        }
        return await task.value
    }
}
