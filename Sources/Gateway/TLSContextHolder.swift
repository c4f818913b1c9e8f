import NIOConcurrencyHelpers
import NIOCore
import NIOSSL

/// The TLS context that new connections take, replaceable while the server runs (SIGHUP).
///
/// Every accepted connection reads `current` once, in its channel initializer, and keeps that
/// context for its lifetime: replacing it affects only connections accepted afterwards, and
/// open ones are never dropped.
final class TLSContextHolder: Sendable {
    private struct State {
        var files: TLSCertificateFiles
        var context: NIOSSLContext
    }

    private let state: NIOLockedValueBox<State>

    /// Reads the files (blocking I/O; not on an event loop).
    /// - Throws: `ConfigurationError` as `TLSCertificateFiles.makeContext` does.
    init(files: TLSCertificateFiles) throws(ConfigurationError) {
        state = NIOLockedValueBox(State(files: files, context: try files.makeContext()))
    }

    /// The context for a connection accepted now.
    var current: NIOSSLContext { state.withLockedValue { $0.context } }

    /// The files the current context was read from.
    var files: TLSCertificateFiles { state.withLockedValue { $0.files } }

    /// Reads `files` and, when they make a valid context, makes it current; otherwise the
    /// current pair stays. Blocking file I/O: not on an event loop.
    /// - Throws: `ConfigurationError` naming the file and what is wrong with it.
    func replace(with files: TLSCertificateFiles) throws(ConfigurationError) {
        install(try files.makeContext(), from: files)
    }

    /// Makes `context`, made from `files` beforehand (a reload validates everything before it
    /// applies anything), current.
    func install(_ context: NIOSSLContext, from files: TLSCertificateFiles) {
        state.withLockedValue { $0 = State(files: files, context: context) }
    }

    /// Puts a TLS server handler first in `channel`'s pipeline, with the current context, and
    /// after it a `TLSHandshakeObserver` counting the handshake as `transport` in `metrics`.
    func addHandler(to channel: Channel, metrics: GatewayMetrics?, transport: String) throws {
        try channel.pipeline.syncOperations.addHandler(NIOSSLServerHandler(context: current))
        if let metrics {
            try channel.pipeline.syncOperations.addHandler(TLSHandshakeObserver(metrics: metrics, transport: transport))
        }
    }
}
