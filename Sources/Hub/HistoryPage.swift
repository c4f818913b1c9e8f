/// What `Hub.history` found for a topic: its current position and the retained messages
/// asked for, oldest first, each with its `HubMessage.position`.
public struct HistoryPage: Sendable {
    /// The topic's epoch and the offset of its last message (0 before any), at the moment the
    /// page was read.
    public var head: TopicPosition
    /// Whether every message after the `since` asked for is in `messages` (or was cut only by
    /// `limit`): false when the position is from another epoch, older than what is retained,
    /// beyond the head, or the topic keeps no history. True when no `since` was given.
    public var recovered: Bool
    /// At most `limit` messages, oldest first.
    public var messages: [HubMessage]
    /// Whether messages after the last one returned remain (the page was cut by `limit`).
    public var truncated: Bool

    public init(head: TopicPosition, recovered: Bool, messages: [HubMessage], truncated: Bool) {
        self.head = head
        self.recovered = recovered
        self.messages = messages
        self.truncated = truncated
    }
}
