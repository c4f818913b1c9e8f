import NIOCore
import NIOPosix

/// Opens client connections on a chosen event loop, optionally bound to a local source address.
struct Connector: Sendable {
    var host: String
    var port: Int
    var sourceAddress: String?
    var timeout: TimeAmount = .seconds(10)

    /// Connects and installs the handlers `initializer` adds, on `loop`.
    func connect(
        on loop: EventLoop,
        _ initializer: @escaping @Sendable (Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<Channel> {
        var bootstrap = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer(initializer)
        if let sourceAddress {
            do {
                bootstrap = bootstrap.bind(to: try SocketAddress(ipAddress: sourceAddress, port: 0))
            } catch {
                return loop.makeFailedFuture(error)
            }
        }
        return bootstrap.connect(host: host, port: port)
    }
}
