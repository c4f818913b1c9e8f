import NIOCore

/// Closing a connection whose peer may still be sending (after an ERROR, a 413 or a 431): if
/// the socket were closed with unread input, the kernel would answer with a reset that can
/// destroy the response before the peer reads it. Instead the output side is shut once the
/// response is flushed, input keeps being read (and discarded by the caller) until the peer
/// closes, and the connection is dropped after `timeout` at the latest.
enum LingeringClose {
    /// Starts a lingering close once `flushed` completes. The caller discards further input.
    static func start(context: ChannelHandlerContext, timeout: TimeAmount, after flushed: EventLoopFuture<Void>) {
        let channel = context.channel
        flushed.whenComplete { _ in
            channel.close(mode: .output, promise: nil)
        }
        let deadline = channel.eventLoop.scheduleTask(in: timeout) {
            channel.close(promise: nil)
        }
        channel.closeFuture.whenComplete { _ in deadline.cancel() }
    }
}
