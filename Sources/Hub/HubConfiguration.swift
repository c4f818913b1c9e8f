import Logging
import NIOCore

/// Settings of the hub and of every STOMP session in it.
public struct HubConfiguration: Sendable {
    public var limits = StompLimits()
    /// The heart-beat this server offers: how often it can send, and how often it wants to
    /// hear from the client (milliseconds; 0 is never). STOMP 1.2 "Heart-beating".
    public var heartbeatSendMilliseconds: Int = 10_000
    public var heartbeatReceiveMilliseconds: Int = 10_000
    /// A client is dropped when nothing arrives for its negotiated interval times this.
    public var heartbeatTolerance: Double = 2.0
    /// Bytes a session may have queued for a client that is not reading before it is
    /// disconnected with ERROR `slow consumer`.
    public var maxOutboundBytes: Int = 4 << 20
    /// Messages a queue holds: waiting for a consumer, plus delivered to a `client` or
    /// `client-individual` consumer and not yet acknowledged (so a requeue never overflows).
    public var maxQueuedMessages: Int = 10_000
    /// Open transactions per session, and frames per transaction.
    public var maxTransactions: Int = 16
    public var maxFramesPerTransaction: Int = 1_000
    /// Bytes held in a session's open transactions (bodies and headers of the frames they
    /// hold), across all of them.
    public var maxTransactionBytes: Int = 4 << 20
    /// Subscriptions per session.
    public var maxSubscriptions: Int = 256
    /// Messages a `client` or `client-individual` subscription may hold unacknowledged;
    /// one more fails the session with ERROR `too many unacknowledged messages`.
    public var maxUnacknowledgedMessages: Int = 1_000
    /// Body bytes a session may hold unacknowledged, across its subscriptions.
    public var maxUnacknowledgedBytes: Int = 16 << 20
    /// Queues that may exist at once in the hub (with messages or consumers).
    public var maxQueues: Int = 10_000
    /// Milliseconds a connection may take from opening to its CONNECT frame.
    public var connectTimeoutMilliseconds: Int = 10_000
    /// How long frames written to a connection may wait for more before they are flushed
    /// together, in microseconds. 0 (the default) flushes at the end of the event-loop tick
    /// in which they were written: every frame delivered in one tick leaves in one write,
    /// without waiting. A small delay (e.g. 1000) trades that much latency for fewer, larger
    /// writes when many messages arrive in quick succession.
    public var writeCoalescingMicroseconds: Int = 0
    /// The `server` header of CONNECTED.
    public var serverName: String = "Perigee/0.1"
    /// Who sessions are and what they may do (`StompGatekeeper`); by default everyone is
    /// anonymous and may do anything.
    public var gatekeeper: any StompGatekeeper = OpenGatekeeper()
    /// Bytes a client may send while one of its frames waits for a gatekeeper decision (an
    /// authorization hook); past it the session fails with ERROR
    /// `too much input awaiting authorization`.
    public var maxInputAwaitingDecision: Int = 1 << 20
    /// Where sessions log: one `info` line when a connection opens and one when it closes
    /// (id, transport, address, principal, duration, messages and bytes, the reason), and a
    /// `notice` per ERROR sent. Discards everything by default (tests).
    public var logger = Logger(label: "perigee.hub", factory: { _ in SwiftLogNoOpLogHandler() })
    /// History and presence per topic (the gateway's `channels:` globs); `.none` for every
    /// topic by default. Asked once when a topic's state is created at its owner shard and
    /// again on `Hub.reconfigure`, never per message.
    public var channelPolicy: @Sendable (Destination) -> ChannelPolicy = { _ in .none }
    /// Bytes of retained history and presence (bodies with their buffers, headers and a fixed
    /// overhead per message and per member) across the hub: each shard owns an equal share, and past it drops its oldest
    /// retained messages first.
    public var maxHistoryBytes: Int = 64 << 20

    public init() {}
}
