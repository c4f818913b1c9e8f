import NIOCore
import WebSocket

/// RFC 7692 receiving side for the client: the engine's own `PerMessageInflater` (the tail
/// re-appended, §7.2.2, output bounded by `limit`), reset per message when the server does not
/// take over context.
final class MessageInflater {
    private let inflater: PerMessageInflater
    private let resetsPerMessage: Bool

    init?(resetsPerMessage: Bool) {
        guard let inflater = PerMessageInflater() else { return nil }
        self.inflater = inflater
        self.resetsPerMessage = resetsPerMessage
    }

    /// The inflated message, or nil when the data is corrupt or larger than `limit`.
    func inflate(_ message: ByteBuffer, limit: Int) -> ByteBuffer? {
        var output = ByteBuffer()
        do {
            try inflater.inflate(message, into: &output, limit: limit)
            try inflater.finishMessage(into: &output, limit: limit)
        } catch {
            return nil
        }
        if resetsPerMessage { inflater.reset() }
        return output
    }
}
