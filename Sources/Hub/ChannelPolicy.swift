/// What the hub keeps for a topic beyond live delivery: its recent messages (history, for
/// resume and `perigee-history`) and who is subscribed (presence). Chosen per destination by
/// `HubConfiguration.channelPolicy` (the gateway's `channels:` globs); off by default.
public struct ChannelPolicy: Sendable, Hashable {
    /// Messages retained per topic (0: none, so resuming is never possible).
    public var history: Int
    /// Seconds a retained message is kept (0: no age limit, only `history` bounds it).
    public var historyTTLSeconds: Int
    /// Whether the topic's subscribers are listed (`Hub.presence`).
    public var presence: Bool
    /// Whether subscribers that ask (`perigee-presence:true`) receive join and leave
    /// MESSAGEs (`perigee-event`). Needs `presence`.
    public var joinLeave: Bool

    public init(history: Int = 0, historyTTLSeconds: Int = 0, presence: Bool = false, joinLeave: Bool = false) {
        self.history = history
        self.historyTTLSeconds = historyTTLSeconds
        self.presence = presence
        self.joinLeave = joinLeave
    }

    /// Nothing kept: live delivery only (every topic without a matching `channels:` entry).
    public static let none = ChannelPolicy()

    /// Largest `history` a configuration may set.
    public static let maxHistory = 100_000
}
