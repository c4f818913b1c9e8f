import NIOCore

/// Opens one event loop's share of the subscribers with a bounded number of handshakes in
/// flight, entirely on that loop: each completion starts the next connection, so a connect storm
/// costs no thread hop per connection.
final class ConnectPump {
    private let loop: EventLoop
    private let indices: [Int]
    private var next = 0
    private var running = 0
    private let concurrency: Int
    private let deadline: Double
    private let start: (Int) -> EventLoopFuture<Channel>
    private let connected: (Channel) -> Void
    private let done: EventLoopPromise<Void>

    init(
        loop: EventLoop,
        indices: [Int],
        concurrency: Int,
        deadline: Double,
        start: @escaping (Int) -> EventLoopFuture<Channel>,
        connected: @escaping (Channel) -> Void
    ) {
        self.loop = loop
        self.indices = indices
        self.concurrency = max(concurrency, 1)
        self.deadline = deadline
        self.start = start
        self.connected = connected
        self.done = loop.makePromise()
    }

    /// Starts the pump (on its loop); the future completes when every connection has succeeded
    /// or failed, or the deadline stopped new ones.
    func run() -> EventLoopFuture<Void> {
        loop.assertInEventLoop()
        fill()
        return done.futureResult
    }

    private func fill() {
        while running < concurrency && next < indices.count && MonotonicClock.seconds() < deadline {
            let index = indices[next]
            next += 1
            running += 1
            let bound = NIOLoopBound(self, eventLoop: loop)
            start(index).hop(to: loop).whenComplete { result in
                let pump = bound.value
                if case .success(let channel) = result { pump.connected(channel) }
                pump.running -= 1
                pump.fill()
            }
        }
        if running == 0 { done.succeed(()) }
    }
}

@available(*, unavailable)
extension ConnectPump: Sendable {}
