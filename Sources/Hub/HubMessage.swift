import NIOCore

/// A message published to the hub, whatever transport it came from.
public struct HubMessage: Sendable {
    /// Unique within this gateway process; becomes the MESSAGE frame's `message-id`.
    public let id: String
    public let destination: Destination
    /// Headers passed through to subscribers: `content-type` and the sender's custom headers.
    public let headers: StompHeaders
    public private(set) var body: ByteBuffer
    /// Whether the body is UTF-8. Header text always is, so this says whether every MESSAGE
    /// frame made from the message can travel as WebSocket text; checked once per publish
    /// rather than once per encoded frame.
    public let bodyIsText: Bool
    /// When the message was published (the monotonic clock `EventLoop.now` reads): each
    /// shard records how long its local fan-out came after it
    /// (`HubStatistics.publishToWrite`).
    public let publishedAt: NIODeadline
    /// The message's place in its topic (`perigee-epoch`, `perigee-offset`), given by the
    /// topic's owner shard when it is published; nil for queue messages and before that.
    public internal(set) var position: TopicPosition?
    /// A presence join or leave (`perigee-event`): delivered only to subscriptions that asked
    /// for presence events, never retained, without a position.
    public internal(set) var presenceEvent: PresenceEvent?

    /// The two presence events (`PerigeeHeader.event`).
    public enum PresenceEvent: String, Sendable {
        case join
        case leave
    }

    /// - Parameter publishedAt: defaults to now; a message rebuilt from another (a send hook
    ///   replaced its body) passes the original's, so that the hook's time counts.
    public init(id: String, destination: Destination, headers: StompHeaders, body: ByteBuffer, publishedAt: NIODeadline = .now()) {
        self.id = id
        self.destination = destination
        self.headers = headers
        self.body = Self.compacted(body)
        self.bodyIsText = UTF8Checker().isValid(body)
        self.publishedAt = publishedAt
    }

    /// A body that is a small slice of a large read buffer would keep the whole buffer alive
    /// for as long as the message lives (in a queue, unacknowledged, in a transaction): a
    /// client could make each tiny message pin a large allocation. Such a body is copied into
    /// a buffer of its own size, once per publish.
    static func compacted(_ body: ByteBuffer) -> ByteBuffer {
        guard body.storageCapacity > 2 * body.readableBytes + 1024 else { return body }
        var copy = ByteBufferAllocator().buffer(capacity: body.readableBytes)
        var source = body
        copy.writeBuffer(&source)
        return copy
    }

    /// Gives the body a buffer of its own size when it shares a larger one (more than 256
    /// bytes larger): a retained message lives for minutes, and each would otherwise pin a
    /// whole read buffer. One copy per retained message.
    mutating func compactForRetention() {
        guard body.storageCapacity > body.readableBytes + 256 else { return }
        var copy = ByteBufferAllocator().buffer(capacity: body.readableBytes)
        var source = body
        copy.writeBuffer(&source)
        body = copy
    }

    /// Headers a sender may not set on a delivered message: the hub sets these itself, and
    /// `receipt`/`transaction` only concern the SEND frame.
    static let reservedHeaders: Set<String> = [
        "destination", "message-id", "subscription", "ack", "content-length", "receipt", "transaction",
    ]

    /// Every header whose name starts with this is the gateway's to set (`perigee-user`, the
    /// sender's authenticated id, among them): a sender's own is dropped.
    public static let reservedPrefix = "perigee-"

    /// The header naming the authenticated id of the session that published a message.
    public static let senderHeader = "perigee-user"

    /// The pass-through headers of a SEND (or an HTTP publish): the first of each name, minus
    /// every header a lenient parser could take for one the hub sets itself. A name is dropped
    /// when, lowercased and stripped of whitespace, it is a reserved name (`Destination`,
    /// ` destination`, `content-length\t`), or when it carries whitespace or control
    /// characters at all (issue 7, fault 12). `content-type` passes only under its exact name.
    public static func passThroughHeaders(_ headers: StompHeaders) -> StompHeaders {
        var result = StompHeaders()
        var seen = Set<String>()
        for (name, value) in headers where isPassable(name) && seen.insert(name).inserted {
            result.add(name, value)
        }
        return result
    }

    private static func isPassable(_ name: String) -> Bool {
        guard !name.isEmpty, !name.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else { return false }
        let folded = name.lowercased()
        if reservedHeaders.contains(folded) || folded.hasPrefix(reservedPrefix) { return false }
        return folded != "content-type" || name == "content-type"
    }
}

/// How a subscriber acknowledges messages (STOMP 1.2 "SUBSCRIBE ack Header").
public enum StompAckMode: String, Sendable, Hashable {
    case auto
    case client
    case clientIndividual = "client-individual"
}

/// What a principal wants to do to a destination.
public enum AccessAction: String, Sendable, Hashable {
    case subscribe
    case send
}
