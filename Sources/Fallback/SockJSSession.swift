import NIOCore

/// One SockJS session (SockJS protocol 0.3 "Session"): the outbound queue that survives
/// between polls, the one receiving connection allowed at a time, heart-beats, and the
/// disconnect delay after which a client that stopped polling is closed and freed.
///
/// Lives on one event loop; requests for it that arrive elsewhere are handed to that loop.
public final class SockJSSession {
    public let id: String
    public let eventLoop: EventLoop
    private let configuration: SockJSConfiguration
    private var application: (any SockJSApplication)?
    private var receiver: (any SockJSReceiver)?
    private var opened = false
    private var closeFrame: SockJSFrame?
    /// The client has seen the close frame, or is gone (see `awaitsFarewell`).
    private var farewellSettled = false
    private var queue: [SockJSMessage] = []
    private var queuedBytes = 0
    private var flushScheduled = false
    private var lastSent: NIODeadline
    private var heartbeatTask: Scheduled<Void>?
    /// Re-checks a receiver that stopped taking output (HTTP receivers report no writability
    /// changes to the session, so it looks again every `writabilityRecheck`).
    private var writabilityTask: Scheduled<Void>?
    private static let writabilityRecheck: TimeAmount = .milliseconds(50)
    private var disconnectTask: Scheduled<Void>?
    private let onFinished: (SockJSSession) -> Void

    /// - Parameter onFinished: called once the session is over and its close frame no longer
    ///   needs to be shown to late requests (the registry forgets it then).
    public init(
        id: String,
        eventLoop: EventLoop,
        configuration: SockJSConfiguration,
        application: any SockJSApplication,
        onFinished: @escaping (SockJSSession) -> Void
    ) {
        self.id = id
        self.eventLoop = eventLoop
        self.configuration = configuration
        self.application = application
        self.onFinished = onFinished
        self.lastSent = eventLoop.now
        scheduleDisconnect()
    }

    /// Whether the session is closed (late requests get its close frame).
    public var isClosed: Bool { closeFrame != nil }

    /// Whether the session still owes its client a close frame: it is open, or the server
    /// closed it and no receiving request has carried the close frame yet (a polling client
    /// between polls). False once a receiver took the close frame, or once the client dropped
    /// its connection or stopped polling. A drain waits for this to turn false.
    public var awaitsFarewell: Bool { !farewellSettled }

    /// Whether a receiving connection is attached.
    public var hasReceiver: Bool { receiver != nil }

    /// Whether the application may send without the queue growing past its high-water mark
    /// (`SockJSConfiguration.queueHighWaterBytes`). False once closed.
    public var isWritable: Bool { closeFrame == nil && queuedBytes < configuration.queueHighWaterBytes }

    /// Bytes waiting for the client.
    public var queuedByteCount: Int { queuedBytes }

    // MARK: Client side

    /// A receiving request (poll, stream, WebSocket) arrived.
    public func attach(_ new: any SockJSReceiver) {
        if receiver != nil {
            _ = new.deliver(.anotherConnectionOpen)
            new.end()
            return
        }
        if let closeFrame {
            // What the application sent before closing comes first (an ERROR before the close).
            if !queue.isEmpty {
                let messages = queue
                queue.removeAll()
                queuedBytes = 0
                guard new.deliver(.messages(messages)) else { return }
            }
            _ = new.deliver(closeFrame)
            farewellSettled = true
            new.end()
            return
        }
        disconnectTask?.cancel()
        disconnectTask = nil
        receiver = new
        if !opened {
            // The application hears of the session only once the client has its open frame,
            // so that whatever it sends or does at once (even closing) follows the `o`.
            opened = true
            let attached = send(.open)
            application?.sockJSSessionDidOpen(self)
            guard attached, receiver != nil else { return }
        }
        flushQueue()
        if receiver != nil { scheduleHeartbeat() }
    }

    /// The receiving connection went away (the client closed it).
    public func detach(_ gone: any SockJSReceiver) {
        guard receiver === gone else { return }
        receiver = nil
        heartbeatTask?.cancel()
        scheduleDisconnect()
    }

    /// The xhr_send or jsonp_send request whose messages are being delivered (nil for
    /// messages that came over the session's WebSocket): valid during
    /// `SockJSApplication.sockJSSession(_:didReceive:)`.
    public private(set) var sendingRequest: SockJSOpening?

    /// Messages the client sent (xhr_send, jsonp_send with `request`; WebSocket without).
    public func receive(_ messages: [String], from request: SockJSOpening? = nil) {
        sendingRequest = request
        defer { sendingRequest = nil }
        for message in messages {
            guard closeFrame == nil, let application else { return }
            application.sockJSSession(self, didReceive: message)
        }
    }

    /// The client dropped the connection that was receiving (SockJS: the session is
    /// interrupted, and late requests are told so with close 1002).
    public func clientAborted(_ gone: any SockJSReceiver) {
        guard receiver === gone else { return }
        receiver = nil
        farewellSettled = true
        guard closeFrame == nil else { return }
        closeFrame = .interrupted
        finish(afterDelay: true)
    }

    /// The client's WebSocket closed, or it broke the protocol: the session ends now.
    public func abort() {
        farewellSettled = true
        guard closeFrame == nil else { return }
        closeFrame = .interrupted
        finish(afterDelay: false)
    }

    // MARK: Application side

    /// Queues a message; it reaches the client on the current or the next receiving request,
    /// in order. The application may send from `sockJSSessionDidOpen` on.
    public func send(_ message: String) {
        send(SockJSMessage(message))
    }

    /// Queues a message already quoted (one made once for a whole fan-out); see `send(_:)`.
    /// Queued bytes count its quoted form, which is what the client will receive.
    public func send(_ message: SockJSMessage) {
        guard closeFrame == nil else { return }
        queue.append(message)
        queuedBytes += message.quoted.utf8.count
        if queuedBytes > configuration.maxQueuedBytes {
            // The client is not collecting its messages: close rather than grow without bound.
            queue.removeAll()
            queuedBytes = 0
            close(code: 1002, reason: "Connection interrupted")
            return
        }
        guard let current = receiver, !flushScheduled else { return }
        guard current.isWritable else {
            scheduleWritabilityCheck()
            return
        }
        // Batch what the application sends in this tick into one frame.
        flushScheduled = true
        eventLoop.assumeIsolated().execute { [weak self] in
            guard let self else { return }
            self.flushScheduled = false
            self.flushQueue()
        }
    }

    /// Drops the client at once (a slow consumer): whatever is queued is discarded, `farewell`
    /// (an ERROR) goes out on a best-effort basis, then the close frame 3000 with `reason`.
    public func abort(farewell: String, reason: String) {
        guard closeFrame == nil else { return }
        queue.removeAll()
        queuedBytes = 0
        let message = SockJSMessage(farewell)
        queue.append(message)
        queuedBytes = message.quoted.utf8.count
        close(code: 3000, reason: reason)
    }

    /// The receiving connection takes output again.
    public func receiverBecameWritable() {
        flushQueue()
    }

    /// Closes the session with a close frame (default: 3000 "Go away!").
    public func close(code: Int = 3000, reason: String = "Go away!") {
        guard closeFrame == nil else { return }
        let frame = SockJSFrame.close(code: code, reason: reason)
        // Messages queued in this tick go out before the close frame, now or on the next poll
        // (whether or not the receiver is writable: nothing more will follow them).
        closeFrame = frame
        flushQueue()
        if let current = receiver {
            receiver = nil
            _ = current.deliver(frame)
            farewellSettled = true
            current.end()
        }
        finish(afterDelay: true)
    }

    // MARK: Internals

    /// Sends a frame to the receiver; false when it ended (and was forgotten).
    private func send(_ frame: SockJSFrame) -> Bool {
        guard let current = receiver else { return false }
        lastSent = eventLoop.now
        if current.deliver(frame) { return true }
        receiver = nil
        heartbeatTask?.cancel()
        if closeFrame == nil { scheduleDisconnect() }
        return false
    }

    private func flushQueue() {
        guard let current = receiver, !queue.isEmpty else { return }
        guard current.isWritable || closeFrame != nil else {
            scheduleWritabilityCheck()
            return
        }
        let messages = queue
        queue.removeAll()
        queuedBytes = 0
        _ = send(.messages(messages))
    }

    private func scheduleWritabilityCheck() {
        guard writabilityTask == nil else { return }
        writabilityTask = eventLoop.assumeIsolated().scheduleTask(in: Self.writabilityRecheck) { [weak self] in
            guard let self else { return }
            self.writabilityTask = nil
            self.flushQueue()
        }
    }

    private func scheduleHeartbeat() {
        heartbeatTask?.cancel()
        let delay = max(lastSent + configuration.heartbeatDelay - eventLoop.now, .milliseconds(1))
        heartbeatTask = eventLoop.assumeIsolated().scheduleTask(in: delay) { [weak self] in
            guard let self, self.receiver != nil else { return }
            if self.eventLoop.now - self.lastSent >= self.configuration.heartbeatDelay - .milliseconds(1) {
                guard self.send(.heartbeat) else { return }
            }
            self.scheduleHeartbeat()
        }
    }

    private func scheduleDisconnect() {
        disconnectTask?.cancel()
        disconnectTask = eventLoop.assumeIsolated().scheduleTask(in: configuration.disconnectDelay) { [weak self] in
            guard let self, self.receiver == nil else { return }
            // The client stopped polling: nobody is left to tell.
            self.farewellSettled = true
            if self.closeFrame == nil {
                self.closeFrame = .interrupted
            }
            self.finish(afterDelay: false)
        }
    }

    /// Tells the application (once) and, after the disconnect delay when asked, forgets the
    /// session: late requests in between still see its close frame.
    private func finish(afterDelay: Bool) {
        heartbeatTask?.cancel()
        writabilityTask?.cancel()
        writabilityTask = nil
        if let application {
            self.application = nil
            application.sockJSSessionDidClose(self)
        }
        if let current = receiver {
            receiver = nil
            current.end()
        }
        guard afterDelay else {
            disconnectTask?.cancel()
            onFinished(self)
            return
        }
        disconnectTask?.cancel()
        disconnectTask = eventLoop.assumeIsolated().scheduleTask(in: configuration.disconnectDelay) { [weak self] in
            guard let self else { return }
            self.onFinished(self)
        }
    }
}

@available(*, unavailable)
extension SockJSSession: Sendable {}
