/// One SockJS message (an element of an `a[...]` frame), kept with its JSON-quoted form.
///
/// A message fanned out to many sessions is quoted once, when it is made, and every session
/// queues the same strings (shared storage, no copy): the quoting never runs per subscriber.
public struct SockJSMessage: Sendable, Hashable, ExpressibleByStringLiteral {
    /// The text the application sent (what the raw WebSocket transport carries as is).
    public let text: String
    /// `text` as a JSON string literal with SockJS's escaping (`SockJSJSON.quote`).
    public let quoted: String

    public init(_ text: String) {
        self.text = text
        self.quoted = SockJSJSON.quote(text)
    }

    public init(stringLiteral text: String) {
        self.init(text)
    }

    public static func == (lhs: SockJSMessage, rhs: SockJSMessage) -> Bool { lhs.text == rhs.text }

    public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}
