import NIOCore
import ServiceLifecycle

/// A started `GatewayServer` as a swift-service-lifecycle `Service`: it serves until graceful
/// shutdown is triggered (a `ServiceGroup`'s `gracefulShutdownSignals`: SIGTERM and SIGINT in
/// `perigee`), then drains (`GatewayServer.drain`) and returns, so that the group and the
/// process end normally. When the listener closes by itself, `run` drains what is left too.
public struct GatewayService: Service {
    public let server: GatewayServer
    /// The longest wait for clients to leave; nil takes the server's `drainTimeout`.
    public let drainTimeout: TimeAmount?

    public init(server: GatewayServer, drainTimeout: TimeAmount? = nil) {
        self.server = server
        self.drainTimeout = drainTimeout
    }

    /// Serves until graceful shutdown, then drains. Task cancellation (the group giving up)
    /// drains without waiting: clients are told, and what is left is closed at once.
    public func run() async throws {
        let (closed, ended) = AsyncStream<Never>.makeStream()
        server.listenerClosed.whenComplete { _ in ended.finish() }
        await withGracefulShutdownHandler {
            // Ends when the stream finishes (shutdown, or the listener closed) or the task is
            // cancelled.
            for await _ in closed {}
        } onGracefulShutdown: {
            ended.finish()
        }
        await server.drain(timeout: Task.isCancelled ? .zero : drainTimeout)
    }
}
