/// The gateway's own STOMP headers for positions, resume and presence (README "History,
/// resume and presence"). A sender's headers with the `perigee-` prefix never pass
/// (`HubMessage.reservedPrefix`); these are set by the hub or read from SUBSCRIBE.
public enum PerigeeHeader {
    /// MESSAGE: the message's offset in its topic (`TopicPosition.offset`), decimal.
    public static let offset = "perigee-offset"
    /// MESSAGE and RECEIPT: the topic's epoch (`TopicPosition.epoch`).
    public static let epoch = "perigee-epoch"
    /// SUBSCRIBE: `<epoch>:<offset>`, resume after that position.
    public static let since = "perigee-since"
    /// SUBSCRIBE: first deliver the last `<k>` retained messages (when not resuming, or when
    /// resuming fails).
    public static let history = "perigee-history"
    /// RECEIPT of a SUBSCRIBE with `perigee-since`: `true` when every message after the
    /// position was delivered (before any live one), `false` otherwise.
    public static let recovered = "perigee-recovered"
    /// RECEIPT of a SUBSCRIBE with `perigee-since` or `perigee-history`: how many retained
    /// messages follow the RECEIPT before live ones.
    public static let replayed = "perigee-replayed"
    /// SUBSCRIBE: `true` to receive join and leave MESSAGEs on a `join_leave` destination.
    public static let presence = "perigee-presence"
    /// MESSAGE: `join` or `leave` on a presence event (body `{"user":…,"data":…}`).
    public static let event = "perigee-event"
}
