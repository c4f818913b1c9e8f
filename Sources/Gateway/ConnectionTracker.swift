import NIOConcurrencyHelpers
import NIOCore

/// Every connection the listeners accepted that is still open, so that a drain can tell them
/// to go, see when they have left, and close the rest at its deadline. One lock operation per
/// accept and per close; nothing on the data path.
final class ConnectionTracker: Sendable {
    private struct Entry: Sendable {
        let channel: Channel
        /// Serves HTTP requests (false once upgraded to WebSocket, and for STOMP over TCP).
        var speaksHTTP: Bool
    }

    private let entries = NIOLockedValueBox<[ObjectIdentifier: Entry]>([:])

    /// Tracks `channel` until it closes.
    func add(_ channel: Channel, speaksHTTP: Bool) {
        let key = ObjectIdentifier(channel)
        entries.withLockedValue { $0[key] = Entry(channel: channel, speaksHTTP: speaksHTTP) }
        channel.closeFuture.whenComplete { [weak self] _ in
            self?.entries.withLockedValue { _ = $0.removeValue(forKey: key) }
        }
    }

    /// `channel` was upgraded from HTTP to WebSocket.
    func upgraded(_ channel: Channel) {
        entries.withLockedValue { $0[ObjectIdentifier(channel)]?.speaksHTTP = false }
    }

    /// Open connections.
    var count: Int { entries.withLockedValue { $0.count } }

    /// Fires `ChannelShouldQuiesceEvent` on the connections that speak HTTP (`http`) or on the
    /// others. An HTTP connection then closes when idle, or after the response in progress
    /// (NIO's `HTTPServerPipelineHandler`); a WebSocket closes with 1001 (`WebSocketHandler`).
    func quiesce(http: Bool) {
        let chosen = entries.withLockedValue { $0.values.filter { $0.speaksHTTP == http }.map(\.channel) }
        for channel in chosen {
            channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
        }
    }

    /// Closes every connection still open, discarding what it had not sent; returns how many.
    @discardableResult
    func closeAll() -> Int {
        let all = entries.withLockedValue { $0.values.map(\.channel) }
        for channel in all { channel.close(promise: nil) }
        return all.count
    }
}
