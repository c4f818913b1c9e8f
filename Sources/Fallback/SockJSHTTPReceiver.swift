import NIOCore
import NIOHTTP1

/// A polling or streaming HTTP response carrying frames to the client. Its head and prelude
/// are written by the request's handler; afterwards it is used on the session's loop and
/// writes through the (thread-safe) channel.
final class SockJSHTTPReceiver: SockJSReceiver {
    private let channel: Channel
    private let kind: SockJSReceiverKind
    private let responseLimit: Int
    private let closeAfterEnd: Bool
    private var sent = 0
    private(set) var ended = false

    init(channel: Channel, kind: SockJSReceiverKind, responseLimit: Int, closeAfterEnd: Bool) {
        self.channel = channel
        self.kind = kind
        self.responseLimit = responseLimit
        self.closeAfterEnd = closeAfterEnd
    }

    func deliver(_ frame: SockJSFrame) -> Bool {
        guard !ended else { return false }
        let text = kind.wrap(frame)
        sent += text.utf8.count
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(string: text))), promise: nil)
        if case .close = frame {
            end()
            return false
        }
        // Polls answer one frame; streams end past the limit so that buffering proxies deliver.
        if !kind.isStreaming || sent >= responseLimit {
            end()
            return false
        }
        return true
    }

    /// `Channel.isWritable` is safe from any thread.
    var isWritable: Bool { channel.isWritable }

    func end() {
        guard !ended else { return }
        ended = true
        let channel = self.channel
        let close = closeAfterEnd
        channel.writeAndFlush(HTTPServerResponsePart.end(nil)).whenComplete { _ in
            if close { channel.close(promise: nil) }
        }
    }
}

@available(*, unavailable)
extension SockJSHTTPReceiver: Sendable {}
