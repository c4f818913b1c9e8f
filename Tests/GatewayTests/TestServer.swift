import Gateway
import NIOPosix
import WebSocket

/// Starts a gateway on an ephemeral loopback port for one test and stops it afterwards.
func withTestServer(
    _ configure: (inout GatewayConfiguration) -> Void = { _ in },
    _ body: (GatewayServer) async throws -> Void
) async throws {
    var configuration = GatewayConfiguration()
    configuration.host = "127.0.0.1"
    configuration.port = 0
    configuration.conformance = true
    configuration.accessPolicy = .open
    configuration.stompPort = -1  // an ephemeral port: tests never collide on 61613
    configure(&configuration)
    let server = try await GatewayServer.start(configuration: configuration, group: MultiThreadedEventLoopGroup.singleton)
    do {
        try await body(server)
    } catch {
        try? await server.stop()
        throw error
    }
    try await server.stop()
}
