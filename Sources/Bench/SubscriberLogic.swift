import NIOCore

/// One subscriber: subscribes (STOMP) or just listens (nchan), checks every body's sequence and
/// records its latency into its loop's statistics.
final class SubscriberLogic: ClientLogic {
    private let stats: LoopStats
    private let dialect: ServerDialect
    private let destination: String
    private var tracker: SequenceTracker
    private var reader = StompStreamReader()
    private var confirmation: EventLoopPromise<Void>?
    private var isConfirmed = false
    private var hasFailed = false

    /// - Parameter confirmation: succeeded when the subscription is confirmed (STOMP RECEIPT;
    ///   for nchan, the established transport), failed when setup fails.
    init(stats: LoopStats, dialect: ServerDialect, destination: String, publishers: Int, confirmation: EventLoopPromise<Void>) {
        self.stats = stats
        self.dialect = dialect
        self.destination = destination
        self.tracker = SequenceTracker(publishers: publishers)
        self.confirmation = confirmation
    }

    func transportOpened(_ transport: ClientTransport) {
        guard dialect.speaksStomp else {
            confirm()
            return
        }
        var frames = ByteBufferAllocator().buffer(capacity: 256)
        StompWriter.connect(dialect: dialect, into: &frames)
        StompWriter.subscribe(id: 0, destination: destination, receipt: 1, into: &frames)
        transport.send(frames)
    }

    func transportReceived(_ payload: ByteBuffer, now: UInt64) {
        guard dialect.speaksStomp else {
            scanBodies(payload, now: now)
            return
        }
        reader.append(payload)
        while let frame = reader.next() {
            switch StompStreamReader.kind(of: frame) {
            case .message:
                scanBodies(frame, now: now)
            case .receipt:
                confirm()
            case .error:
                fail(StompStreamReader.errorText(of: frame))
            case .connected, .other:
                break
            }
        }
        if reader.isOverLimit { fail("unterminated STOMP frame over \(reader.maxFrameBytes) bytes") }
    }

    func transportFailed(_ reason: String) {
        fail(reason)
    }

    func transportClosed() {
        if isConfirmed {
            stats.data.closed += 1
        } else {
            fail("closed before the subscription was confirmed")
        }
        isConfirmed = false
    }

    private func scanBodies(_ bytes: ByteBuffer, now: UInt64) {
        bytes.withUnsafeReadableBytes { raw in
            var from = 0
            while let at = MessageBody.findMarker(raw, from: from, end: raw.count) {
                if let fields = MessageBody.decode(raw, at: at) {
                    stats.observe(fields, tracker: &tracker, now: now)
                    from = at + MessageBody.minimumSize
                } else {
                    from = at + 2
                }
            }
        }
    }

    private func confirm() {
        guard !isConfirmed, !hasFailed else { return }
        isConfirmed = true
        stats.data.confirmed += 1
        confirmation?.succeed(())
        confirmation = nil
    }

    private func fail(_ reason: String) {
        if let confirmation {
            hasFailed = true
            stats.data.recordConnectError(reason)
            confirmation.fail(BenchError(reason))
            self.confirmation = nil
        } else if !hasFailed {
            hasFailed = true
            stats.data.recordError(reason)
        }
    }
}

/// A failure with a readable reason; counted and reported, never fatal.
package struct BenchError: Error, CustomStringConvertible, Sendable {
    package var description: String
    package init(_ description: String) { self.description = description }
}
