import Histogram

/// Receive-side counters of one event loop (or one process), summed across loops and processes.
package struct ReceiveSnapshot: Codable, Sendable {
    /// Data messages whose sequence number advanced.
    package var delivered: UInt64 = 0
    /// Data messages older than one already seen from the same publisher on the same topic.
    package var reordered: UInt64 = 0
    /// Data messages equal to the last seen.
    package var duplicates: UInt64 = 0
    /// Sequence numbers skipped over (informational: the end-of-step count is the loss).
    package var gaps: UInt64 = 0
    /// Latency in microseconds.
    package var latency: Histogram<UInt64> = ReceiveSnapshot.makeHistogram()
    /// Subscribers whose subscription is confirmed (cumulative).
    package var confirmed = 0
    /// Subscribers that saw a warm-up message (cumulative).
    package var warmed = 0
    /// Connections or subscriptions that failed to set up (cumulative).
    package var connectErrors = 0
    /// Errors after setup: STOMP ERROR frames, HTTP errors, protocol errors (cumulative).
    package var errors = 0
    /// Subscribers whose connection closed after setup (cumulative).
    package var closed = 0
    /// The first few error texts.
    package var errorSamples: [String] = []
    /// Time to set up the subscribers of this process, seconds.
    package var connectSeconds: Double = 0

    package init() {}

    package static func makeHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(lowestDiscernibleValue: 1, highestTrackableValue: 3_600_000_000, numberOfSignificantValueDigits: .three)
    }

    package mutating func add(_ other: ReceiveSnapshot) {
        delivered += other.delivered
        reordered += other.reordered
        duplicates += other.duplicates
        gaps += other.gaps
        latency.add(other.latency)
        confirmed += other.confirmed
        warmed += other.warmed
        connectErrors += other.connectErrors
        errors += other.errors
        closed += other.closed
        for sample in other.errorSamples where errorSamples.count < 5 { errorSamples.append(sample) }
        connectSeconds = max(connectSeconds, other.connectSeconds)
    }

    /// Clears the per-step counters, keeping the cumulative ones.
    package mutating func resetStep() {
        delivered = 0
        reordered = 0
        duplicates = 0
        gaps = 0
        latency.reset()
    }

    package mutating func recordError(_ text: String) {
        errors += 1
        if errorSamples.count < 5 { errorSamples.append(text) }
    }

    package mutating func recordConnectError(_ text: String) {
        connectErrors += 1
        if errorSamples.count < 5 { errorSamples.append(text) }
    }
}
