/// Where a message stands in its topic's order: the topic's `epoch` and the message's
/// `offset` in it. Every MESSAGE of a topic carries both (`perigee-epoch`, `perigee-offset`).
///
/// Offsets increase by one per message published to the topic while its epoch lasts; they
/// start at 1, so `epoch:0` names the position before the first message. A new epoch begins
/// whenever the topic's order was lost (the server restarted, or the topic was forgotten
/// while nothing was retained or subscribed), so a position from another epoch can never be
/// resumed from.
public struct TopicPosition: Sendable, Hashable, CustomStringConvertible {
    /// A short token (lowercase letters and digits, never `:`), random per epoch.
    public var epoch: String
    public var offset: UInt64

    public init(epoch: String, offset: UInt64) {
        self.epoch = epoch
        self.offset = offset
    }

    /// Parses `<epoch>:<offset>` (the `perigee-since` header, the history API's `since`); nil
    /// when malformed: an epoch that is empty, longer than 32 bytes or not `[0-9a-z]`, or an
    /// offset that is not a decimal `UInt64`.
    public init?(_ text: String) {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let epoch = parts[0]
        guard !epoch.isEmpty, epoch.utf8.count <= 32,
            epoch.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x7A).contains($0) })
        else { return nil }
        let digits = parts[1]
        guard !digits.isEmpty, digits.utf8.count <= 20, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }),
            let offset = UInt64(digits)
        else { return nil }
        self.epoch = String(epoch)
        self.offset = offset
    }

    /// `<epoch>:<offset>`, as `perigee-since` takes it.
    public var description: String { "\(epoch):\(offset)" }

    /// A fresh epoch token: 13 base-36 digits of a random 64-bit number.
    static func newEpoch() -> String {
        var generator = SystemRandomNumberGenerator()
        let text = String(generator.next() as UInt64, radix: 36)
        return String(repeating: "0", count: max(0, 13 - text.utf8.count)) + text
    }
}
