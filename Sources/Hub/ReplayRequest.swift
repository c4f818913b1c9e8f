/// What a SUBSCRIBE asked to receive before live messages (`perigee-since`,
/// `perigee-history`), and the receipt that answers it.
public struct ReplayRequest: Sendable, Hashable {
    /// How the `perigee-since` header read.
    public enum Since: Sendable, Hashable {
        /// No `perigee-since`: nothing to resume.
        case none
        /// Resume after this position.
        case position(TopicPosition)
        /// A value that is not `<epoch>:<offset>`: it cannot be resumed from, so the receipt
        /// says `perigee-recovered:false` (a client whose stored position is corrupt must reload,
        /// not be disconnected).
        case malformed
    }

    public var since: Since
    /// `perigee-history`: the last this many retained messages, when not resuming or when
    /// resuming fails (0: none).
    public var last: Int
    /// The SUBSCRIBE's `receipt`: answered once the replay is known, before its messages.
    public var receipt: String?

    public init(since: Since, last: Int, receipt: String?) {
        self.since = since
        self.last = last
        self.receipt = receipt
    }
}
