/// Who is subscribed to a destination with presence (`ChannelPolicy.presence`), as
/// `Hub.presence` reads it at the destination's owner.
public struct PresenceSnapshot: Sendable, Hashable {
    public struct Member: Sendable, Hashable {
        /// The principal's id (`Principal.user`).
        public var user: String
        /// Subscriptions this user holds to the destination, across sessions and transports.
        public var sessions: Int
        /// The JSON text the authenticator supplied for presence (`Principal.presence`), or nil.
        public var data: String?

        public init(user: String, sessions: Int, data: String?) {
            self.user = user
            self.sessions = sessions
            self.data = data
        }
    }

    /// Each user once, sorted by id.
    public var members: [Member]
    /// Subscriptions of anonymous sessions: counted, never listed.
    public var anonymous: Int

    public init(members: [Member], anonymous: Int) {
        self.members = members
        self.anonymous = anonymous
    }
}
