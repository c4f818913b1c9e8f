import Metrics
import NIOCore

/// Measures how late each event loop runs a task it scheduled: every `interval` it schedules
/// a task at a deadline and records, when the task runs, how long after that deadline it ran
/// (`perigee_event_loop_lag_seconds{loop}`, the last measurement). A loop busy with a long
/// callback, or starved of CPU, shows here before clients notice.
final class EventLoopLagProbe: Sendable {
    private let loops: [EventLoop]
    private let ticks: [NIOLoopBoundBox<Tick>]

    /// One loop's repeating measurement; lives on that loop.
    private final class Tick {
        let loop: EventLoop
        let interval: TimeAmount
        let recorder: CoreMetrics.Recorder
        var task: Scheduled<Void>?
        var stopped = false

        init(loop: EventLoop, interval: TimeAmount, recorder: CoreMetrics.Recorder) {
            self.loop = loop
            self.interval = interval
            self.recorder = recorder
        }

        func schedule() {
            guard !stopped else { return }
            let deadline = NIODeadline.now() + interval
            task = loop.assumeIsolated().scheduleTask(deadline: deadline) {
                let late = NIODeadline.now() - deadline
                self.recorder.record(Double(max(late.nanoseconds, 0)) / 1e9)
                self.schedule()
            }
        }

        func stop() {
            stopped = true
            task?.cancel()
        }
    }

    /// Starts measuring every loop of `group`, each every `interval`.
    init(group: EventLoopGroup, interval: TimeAmount = .seconds(1), metrics: GatewayMetrics) {
        loops = Array(group.makeIterator())
        ticks = loops.enumerated().map { index, loop in
            let tick = NIOLoopBoundBox.makeBoxSendingValue(
                Tick(loop: loop, interval: interval, recorder: metrics.lagRecorder(loop: index)),
                eventLoop: loop
            )
            loop.execute { tick.value.schedule() }
            return tick
        }
    }

    /// Stops every measurement (before the loops shut down).
    func cancel() {
        for (loop, tick) in zip(loops, ticks) {
            loop.execute { tick.value.stop() }
        }
    }
}
