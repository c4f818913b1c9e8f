import NIOCore
import WebSocket

/// One broadcast compressor per event loop: zlib streams are not thread-safe, and one per loop
/// (rather than per connection) keeps their memory independent of the connection count.
final class WebSocketCompressorPool: Sendable {
    private let loops: [EventLoop]
    private let compressors: [NIOLoopBoundBox<WebSocketMessageCompressor>]

    /// - Parameter statistics: counts the bytes each compressor compresses (metrics).
    init(group: EventLoopGroup, configuration: PerMessageDeflateConfiguration, statistics: DeflateStatistics? = nil) {
        loops = Array(group.makeIterator())
        compressors = loops.map { loop in
            .makeBoxSendingValue(WebSocketMessageCompressor(configuration: configuration, statistics: statistics), eventLoop: loop)
        }
    }

    /// The compressor of `loop`; call it on that loop.
    func compressor(on loop: EventLoop) -> WebSocketMessageCompressor? {
        for (index, candidate) in loops.enumerated() where candidate === loop {
            return compressors[index].value
        }
        return nil
    }
}
