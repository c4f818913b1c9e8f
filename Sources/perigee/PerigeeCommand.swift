import ArgumentParser
import Gateway
import Logging

/// `perigee`: the real-time gateway. The flags are a stable interface for scripts and users.
@main
struct PerigeeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perigee",
        abstract: "Real-time gateway: WebSocket, STOMP and HTTP fallbacks into one topic hub."
    )

    @Option(help: "Address to listen on for HTTP and WebSocket.")
    var host: String = "127.0.0.1"

    @Option(help: "Port for HTTP and WebSocket (0 picks a free port).")
    var port: Int = 9000

    @Option(name: .customLong("stomp-port"), help: "Port for STOMP over TCP (0 = off).")
    var stompPort: Int = 61613

    @Option(name: .customLong("web-root"), help: "Folder of static files served at / (the shoutbox).")
    var webRoot: String = "web"

    @Option(help: "Configuration file.")
    var config: String?

    @Flag(help: "Mount the conformance test services (/echo/websocket).")
    var conformance = false

    func validate() throws {
        guard (0...65535).contains(port) else {
            throw ValidationError("--port must be 0...65535, got \(port)")
        }
        guard (0...65535).contains(stompPort) else {
            throw ValidationError("--stomp-port must be 0...65535, got \(stompPort)")
        }
        if config != nil {
            throw ValidationError("--config: configuration files are not in this build yet (issue #3)")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        var configuration = GatewayConfiguration()
        configuration.host = host
        configuration.port = port
        configuration.stompPort = stompPort
        configuration.webRoot = webRoot
        configuration.conformance = conformance
        let server = try await GatewayServer.start(configuration: configuration)
        print("perigee listening on http://\(host):\(server.httpPort)" + (server.stompPort != 0 ? " and stomp://\(host):\(server.stompPort)" : ""))
        try await server.waitUntilClosed()
    }
}
