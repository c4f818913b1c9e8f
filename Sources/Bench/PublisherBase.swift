import NIOCore

/// Counters and pacing shared by every publisher. Lives on one event loop; the run reads it
/// through `NIOLoopBound` on that loop.
class PublisherBase {
    let id: Int
    let settings: BenchSettings
    let loop: EventLoop
    /// Sequence numbers per topic: also the number of data messages sent to each topic.
    var sequences: [UInt64]
    /// Data messages written.
    var sent: UInt64 = 0
    /// Data messages the server acknowledged (STOMP receipts, HTTP 2xx).
    var accepted: UInt64 = 0
    /// Refusals: STOMP ERROR frames, non-2xx answers, broken connections.
    var errors = 0
    var errorSamples: [String] = []
    var warmupSequence: UInt64 = 0
    private var random: UInt64
    private var pacing: RepeatedTask?
    private var pacingDone: EventLoopPromise<Void>?

    init(id: Int, settings: BenchSettings, loop: EventLoop) {
        self.id = id
        self.settings = settings
        self.loop = loop
        self.sequences = Array(repeating: 0, count: max(settings.topics, 1))
        self.random = 0x2545_F491_4F6C_DD1D &+ UInt64(id) &* 0x9E37_79B9_7F4A_7C15
    }

    /// How many more messages may be written now (window and writability); subclasses bound it.
    var room: Int { 0 }

    /// Writes `count` data messages (or warm-ups to `topic`); returns how many it wrote.
    func emit(count: Int) -> Int { 0 }

    func emitWarmup(topic: Int) {}

    /// A topic chosen at random (xorshift), as "publishes spread at random over topics".
    @inline(__always)
    func nextTopic() -> Int {
        let topics = sequences.count
        if topics == 1 { return 0 }
        random ^= random << 13
        random ^= random >> 7
        random ^= random << 17
        return Int(random % UInt64(topics))
    }

    /// Publishes at `rate` messages/s (nil: as fast as the window allows) in 1 ms bursts until
    /// `seconds` have passed.
    func run(rate: Double?, seconds: Double) -> EventLoopFuture<Void> {
        let promise = loop.makePromise(of: Void.self)
        pacingDone = promise
        let start = MonotonicClock.nanoseconds()
        let end = start + UInt64(seconds * 1e9)
        issued = 0
        let bound = NIOLoopBound(self, eventLoop: loop)
        pacing = loop.scheduleRepeatedTask(initialDelay: .zero, delay: .milliseconds(1)) { task in
            bound.value.tick(task: task, rate: rate, start: start, end: end)
        }
        return promise.futureResult
    }

    private var issued = 0

    private func tick(task: RepeatedTask, rate: Double?, start: UInt64, end: UInt64) {
        let now = MonotonicClock.nanoseconds()
        if now >= end {
            task.cancel()
            pacingDone?.succeed(())
            pacingDone = nil
            return
        }
        var want = room
        if let rate {
            let due = Int(rate * Double(now - start) / 1e9) - issued
            // Never more than ~20 ms of backlog at once: a stall is not followed by a flood.
            want = min(want, due, max(Int(rate / 50), 1))
        }
        if want > 0 { issued += emit(count: want) }
    }

    func recordError(_ text: String) {
        errors += 1
        if errorSamples.count < 5 { errorSamples.append(text) }
    }

    /// A body's fields for the next data message to `topic`.
    @inline(__always)
    func nextSequence(topic: Int) -> UInt64 {
        sequences[topic] &+= 1
        sent &+= 1
        return sequences[topic]
    }
}
