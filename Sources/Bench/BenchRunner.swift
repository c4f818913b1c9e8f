import Foundation
import NIOCore
import NIOPosix

/// Runs one benchmark: connects subscribers (here and in child processes), publishers, and
/// measures the mode's numbers. Every wait is bounded by the overall timeout.
package final class BenchRunner {
    private let settings: BenchSettings
    private let group: MultiThreadedEventLoopGroup
    private let pool: SubscriberPool
    private let factory: ClientFactory
    private let deadline: Double
    private var children: [ChildProcess] = []
    private var publishers: [(Channel, NIOLoopBound<PublisherBase>)] = []
    private var report: BenchReport

    package init(settings: BenchSettings) {
        self.settings = settings
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(settings.threads, 1))
        factory = ClientFactory(settings: settings)
        pool = SubscriberPool(group: group, factory: factory)
        deadline = MonotonicClock.seconds() + settings.timeoutSeconds
        report = BenchReport(settings: settings)
    }

    private var remaining: Double { max(0, deadline - MonotonicClock.seconds()) }

    /// The subscribers this process runs: every `processes`-th, starting at its index.
    private var localIndices: [Int] {
        Array(stride(from: settings.childIndex ?? 0, to: settings.subscribers, by: max(settings.processes, 1)))
    }

    package func run() async -> BenchReport {
        ProcessProbe.raiseFileLimit()
        switch settings.mode {
        case .fanout: await runFanout()
        case .idle: await runIdle()
        case .connect: await runConnect()
        case .ingest: await runIngest()
        }
        await shutdown()
        return report
    }

    // MARK: Child processes

    /// A child: connect its share, report, then answer snapshot requests until told to quit.
    package func runChild() async {
        ProcessProbe.raiseFileLimit()
        _ = await pool.connect(indices: localIndices, concurrency: settings.connectConcurrency, deadline: deadline)
        let ready = await pool.snapshot(resetStep: false)
        emitLine("READY", ready)
        while let command = await Self.readStdinLine() {
            switch command {
            case "SNAP": emitLine("SNAP", await pool.snapshot(resetStep: false))
            case "RESET": emitLine("SNAP", await pool.snapshot(resetStep: true))
            default:
                await shutdown()
                return
            }
        }
        await shutdown()
    }

    private func emitLine(_ tag: String, _ snapshot: ReceiveSnapshot) {
        let data = (try? JSONEncoder().encode(snapshot)) ?? Data("{}".utf8)
        FileHandle.standardOutput.write(Data((tag + " ").utf8) + data + Data("\n".utf8))
    }

    private static func readStdinLine() async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: readLine()) }
        }
    }

    private func spawnChildren() {
        guard settings.processes > 1, settings.subscribers > 0 else { return }
        let base = Array(CommandLine.arguments.dropFirst())
        for index in 1..<settings.processes {
            do {
                children.append(try ChildProcess(arguments: base + ["--child-index", String(index), "--run-id", settings.runID]))
            } catch {
                report.connectErrors += 1
                report.errorSamples.append("spawning child \(index): \(error)")
            }
        }
    }

    /// Connects all subscribers (children in parallel); returns the slowest process's seconds.
    private func connectSubscribers() async -> Double {
        spawnChildren()
        var seconds = await pool.connect(indices: localIndices, concurrency: settings.connectConcurrency, deadline: deadline)
        for (number, child) in children.enumerated() {
            if let line = await child.readLine(prefix: "READY ", timeout: remaining + 5),
                let snapshot = try? JSONDecoder().decode(ReceiveSnapshot.self, from: Data(line.utf8))
            {
                seconds = max(seconds, snapshot.connectSeconds)
            } else {
                report.errorSamples.append("child \(number + 1) did not report ready")
                report.connectErrors += 1
            }
        }
        let snapshot = await collect(resetStep: false)
        report.confirmed = snapshot.confirmed
        report.connectErrors += snapshot.connectErrors
        report.errorSamples += snapshot.errorSamples
        return seconds
    }

    /// Statistics summed over this process and its children.
    private func collect(resetStep: Bool) async -> ReceiveSnapshot {
        var total = await pool.snapshot(resetStep: resetStep)
        for child in children {
            if let part = await child.snapshot(resetStep: resetStep) { total.add(part) }
        }
        return total
    }

    private var clientPids: [Int32] { [getpid()] + children.map(\.pid) }

    private func cpuPercent(_ pids: [Int32], from start: Double?, to end: Double?, seconds: Double) -> Double? {
        guard let start, let end, seconds > 0 else { return nil }
        return (end - start) / seconds * 100
    }

    // MARK: Publishers

    private func connectPublishers() async -> Bool {
        let loops = Array(group.makeIterator())
        for id in 0..<settings.publishers {
            let loop = loops[id % loops.count]
            do {
                let setup = TimeAmount.milliseconds(Int64(min(30, max(1, remaining)) * 1000))
                publishers.append(try await factory.publisher(id: id, loop: loop, setupTimeout: setup).get())
            } catch {
                report.publishErrors += 1
                report.errorSamples.append("publisher \(id): \(error)")
            }
        }
        return publishers.count == settings.publishers && !publishers.isEmpty
    }

    private struct PublisherCounts {
        var perTopic: [UInt64]
        var sent: UInt64 = 0
        var accepted: UInt64 = 0
        var errors = 0
        var samples: [String] = []
    }

    private func publisherCounts() async -> PublisherCounts {
        var counts = PublisherCounts(perTopic: Array(repeating: 0, count: max(settings.topics, 1)))
        for (_, bound) in publishers {
            let part = try? await bound.eventLoop.submit {
                let p = bound.value
                return (p.sequences, p.sent, p.accepted, p.errors, p.errorSamples)
            }.get()
            guard let part else { continue }
            for (topic, count) in part.0.enumerated() { counts.perTopic[topic] += count }
            counts.sent += part.1
            counts.accepted += part.2
            counts.errors += part.3
            counts.samples += part.4
        }
        return counts
    }

    /// Publishes from every publisher at `rate` in total (nil: as fast as possible).
    private func publish(rate: Double?, seconds: Double) async {
        let share = rate.map { $0 / Double(max(publishers.count, 1)) }
        let runs = publishers.map { _, bound in
            bound.eventLoop.flatSubmit { bound.value.run(rate: share, seconds: seconds) }
        }
        for run in runs { try? await run.get() }
    }

    private func subscribers(onTopic topic: Int) -> UInt64 {
        let topics = max(settings.topics, 1)
        let base = settings.subscribers / topics
        return UInt64(base + (topic < settings.subscribers % topics ? 1 : 0))
    }

    // MARK: Modes

    private func runFanout() async {
        let connectSeconds = await connectSubscribers()
        report.connectSeconds = connectSeconds
        report.connectionsPerSecond = connectSeconds > 0 ? Double(report.confirmed) / connectSeconds : nil
        guard await connectPublishers() else {
            report.ok = false
            return
        }
        await warmUp()
        _ = await collect(resetStep: true)
        var previous = await publisherCounts()
        var closedBefore = 0
        var errorsBefore = 0
        for rate in settings.rates {
            guard remaining > settings.stepSeconds + 1 else {
                report.errorSamples.append("overall timeout reached before the \(rate)/s step")
                break
            }
            let serverCPU0 = ProcessProbe.totalCPUSeconds(settings.serverPids)
            let clientCPU0 = ProcessProbe.totalCPUSeconds(clientPids)
            let t0 = MonotonicClock.seconds()
            await publish(rate: rate, seconds: settings.stepSeconds)
            let t1 = MonotonicClock.seconds()
            let counts = await publisherCounts()
            var expected: UInt64 = 0
            for topic in 0..<counts.perTopic.count {
                expected += (counts.perTopic[topic] - previous.perTopic[topic]) * subscribers(onTopic: topic)
            }
            // The tail: wait until every expected message arrived, or 5 s.
            var snapshot = await collect(resetStep: false)
            while snapshot.delivered + snapshot.reordered < expected && MonotonicClock.seconds() - t1 < 5 && remaining > 0 {
                try? await Task.sleep(nanoseconds: 50_000_000)
                snapshot = await collect(resetStep: false)
            }
            snapshot = await collect(resetStep: true)
            let t2 = MonotonicClock.seconds()
            let serverCPU1 = ProcessProbe.totalCPUSeconds(settings.serverPids)
            let clientCPU1 = ProcessProbe.totalCPUSeconds(clientPids)
            let published = counts.sent - previous.sent
            let seconds = t1 - t0
            let received = snapshot.delivered + snapshot.reordered
            var step = StepResult(
                offeredRate: rate,
                publishRate: Double(published) / seconds,
                durationSeconds: seconds,
                expected: expected,
                delivered: snapshot.delivered,
                deliveriesPerSecond: Double(snapshot.delivered) / seconds,
                lost: expected > received ? expected - received : 0,
                reordered: snapshot.reordered,
                duplicates: snapshot.duplicates,
                latencyMs: nil,
                serverCPUPercent: cpuPercent(settings.serverPids, from: serverCPU0, to: serverCPU1, seconds: t2 - t0),
                clientCPUPercent: cpuPercent(clientPids, from: clientCPU0, to: clientCPU1, seconds: t2 - t0),
                clientBound: false,
                disconnected: snapshot.closed - closedBefore,
                errors: snapshot.errors - errorsBefore + counts.errors - previous.errors,
                passed: false
            )
            if snapshot.latency.totalCount > 0 {
                let h = snapshot.latency
                step.latencyMs = (
                    Double(h.valueAtPercentile(50)) / 1000, Double(h.valueAtPercentile(90)) / 1000,
                    Double(h.valueAtPercentile(99)) / 1000, Double(h.max) / 1000
                )
            }
            step.clientBound = (step.clientCPUPercent ?? 0) >= 90 * Double(settings.threads * max(settings.processes, 1))
            step.passed =
                step.lost == 0 && step.reordered == 0 && step.publishRate >= 0.95 * rate
                && (step.latencyMs?.p99 ?? .infinity) <= settings.p99BoundMs && snapshot.closed == 0 && step.errors == 0
            report.steps.append(step)
            closedBefore = snapshot.closed
            errorsBefore = snapshot.errors
            report.errors = snapshot.errors
            report.errorSamples += snapshot.errorSamples.filter { !report.errorSamples.contains($0) }
            report.publishErrors = counts.errors
            report.errorSamples += counts.samples.filter { !report.errorSamples.contains($0) }
            previous = counts
            if !step.passed { break }
        }
        let passing = report.steps.filter(\.passed)
        report.maxSustainedDeliveriesPerSecond = passing.map(\.deliveriesPerSecond).max()
        report.ok = report.connectErrors == 0 && !report.steps.isEmpty
            && (settings.rates.count > 1 ? !passing.isEmpty : report.steps.allSatisfy(\.passed))
    }

    /// Publishes a warm-up message to every topic until every confirmed subscriber saw one: it
    /// proves the whole path (nchan confirms no subscription at all).
    private func warmUp() async {
        guard settings.subscribers > 0, let first = publishers.first?.1 else { return }
        let topics = max(settings.topics, 1)
        let until = MonotonicClock.seconds() + min(30, remaining)
        while MonotonicClock.seconds() < until {
            let _: Void? = try? await first.eventLoop.submit {
                for topic in 0..<topics { first.value.emitWarmup(topic: topic) }
            }.get()
            try? await Task.sleep(nanoseconds: 300_000_000)
            let snapshot = await collect(resetStep: false)
            if snapshot.warmed >= snapshot.confirmed { return }
        }
        let snapshot = await collect(resetStep: false)
        report.errorSamples.append("warm-up: only \(snapshot.warmed) of \(snapshot.confirmed) subscribers saw a message")
    }

    private func runIdle() async {
        report.serverRSSBefore = ProcessProbe.totalRSSKiB(settings.serverPids)
        let seconds = await connectSubscribers()
        report.connectSeconds = seconds
        report.connectionsPerSecond = seconds > 0 ? Double(report.confirmed) / seconds : nil
        let hold = min(settings.holdSeconds, remaining)
        if hold > 0 { try? await Task.sleep(nanoseconds: UInt64(hold * 1e9)) }
        report.serverRSSAfter = ProcessProbe.totalRSSKiB(settings.serverPids)
        let snapshot = await collect(resetStep: false)
        report.errors = snapshot.errors
        report.errorSamples += snapshot.errorSamples.filter { !report.errorSamples.contains($0) }
        if let before = report.serverRSSBefore, let after = report.serverRSSAfter, report.confirmed > 0 {
            report.rssPerConnectionKiB = Double(after - before) / Double(report.confirmed)
        }
        report.ok = report.connectErrors == 0 && snapshot.closed == 0 && report.confirmed == settings.subscribers
    }

    private func runConnect() async {
        let serverCPU0 = ProcessProbe.totalCPUSeconds(settings.serverPids)
        let t0 = MonotonicClock.seconds()
        let seconds = await connectSubscribers()
        let t1 = MonotonicClock.seconds()
        report.serverCPUPercent = cpuPercent(settings.serverPids, from: serverCPU0, to: ProcessProbe.totalCPUSeconds(settings.serverPids), seconds: t1 - t0)
        report.connectSeconds = seconds
        report.connectionsPerSecond = seconds > 0 ? Double(report.confirmed) / seconds : nil
        report.serverRSSAfter = ProcessProbe.totalRSSKiB(settings.serverPids)
        report.ok = report.connectErrors == 0 && report.confirmed == settings.subscribers
    }

    private func runIngest() async {
        if settings.subscribers > 0 {
            report.connectSeconds = await connectSubscribers()
        }
        guard await connectPublishers() else { return }
        let serverCPU0 = ProcessProbe.totalCPUSeconds(settings.serverPids)
        let clientCPU0 = ProcessProbe.totalCPUSeconds(clientPids)
        let before = await publisherCounts()
        let t0 = MonotonicClock.seconds()
        await publish(rate: nil, seconds: min(settings.stepSeconds, max(1, remaining - 3)))
        let t1 = MonotonicClock.seconds()
        // Let the answers to the last window arrive.
        var counts = await publisherCounts()
        let settle = MonotonicClock.seconds()
        while MonotonicClock.seconds() - settle < 2 {
            try? await Task.sleep(nanoseconds: 100_000_000)
            let next = await publisherCounts()
            if next.accepted == counts.accepted {
                counts = next
                break
            }
            counts = next
        }
        let t2 = MonotonicClock.seconds()
        report.publishesAcceptedPerSecond = Double(counts.accepted - before.accepted) / (t1 - t0)
        report.publishErrors = counts.errors
        report.errorSamples += counts.samples
        report.serverCPUPercent = cpuPercent(settings.serverPids, from: serverCPU0, to: ProcessProbe.totalCPUSeconds(settings.serverPids), seconds: t2 - t0)
        report.clientCPUPercent = cpuPercent(clientPids, from: clientCPU0, to: ProcessProbe.totalCPUSeconds(clientPids), seconds: t2 - t0)
        report.clientBound = (report.clientCPUPercent ?? 0) >= 90 * Double(settings.threads)
        report.ok = counts.accepted > before.accepted && counts.errors == 0
    }

    private func shutdown() async {
        for child in children { child.quit() }
        for (channel, _) in publishers { try? await channel.close() }
        await pool.closeAll()
        for child in children { child.waitForExit(timeout: 5) }
        try? await group.shutdownGracefully()
    }
}
