import ArgumentParser
import Gateway
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `perigee`: the real-time gateway. The flags are a stable interface for scripts and users;
/// they override `PERIGEE_*` environment variables, which override the configuration file.
@main
struct PerigeeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perigee",
        abstract: "Real-time gateway: WebSocket, STOMP and HTTP fallbacks into one topic hub."
    )

    @Option(help: "Address to listen on for HTTP and WebSocket (default 127.0.0.1).")
    var host: String?

    @Option(help: "Port for HTTP and WebSocket; 0 picks a free port (default 9000).")
    var port: Int?

    @Option(name: .customLong("stomp-port"), help: "Port for STOMP over TCP; 0 is off (default 61613).")
    var stompPort: Int?

    @Option(name: .customLong("web-root"), help: "Folder of static files served at / (default web).")
    var webRoot: String?

    @Option(help: "Configuration file (YAML; see perigee.example.yaml).")
    var config: String?

    @Option(name: .customLong("check-config"), help: "Check a configuration file and exit: 0 when valid, 2 otherwise.")
    var checkConfig: String?

    @Flag(help: "Mount the conformance test services (/echo/websocket).")
    var conformance = false

    func validate() throws {
        for (name, value) in [("--port", port), ("--stomp-port", stompPort)] {
            if let value, !(0...65535).contains(value) {
                throw ValidationError("\(name) must be 0...65535, got \(value)")
            }
        }
    }

    func run() async throws {
        if let checkConfig {
            do {
                _ = try ConfigurationLoader.load(file: checkConfig)
                print("\(checkConfig): ok")
                return
            } catch {
                Self.printError(error.description)
                throw ExitCode(2)
            }
        }
        var configuration = GatewayConfiguration()
        do {
            if let config {
                configuration = try ConfigurationLoader.load(file: config, into: configuration)
            }
            try ConfigurationLoader.applyEnvironment(Self.environment(), to: &configuration)
        } catch {
            Self.printError(error.description)
            throw ExitCode(2)
        }
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let stompPort { configuration.stompPort = stompPort }
        if let webRoot { configuration.webRoot = webRoot.isEmpty ? nil : webRoot }
        if conformance { configuration.conformance = true }

        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .info
            return handler
        }
        let server = try await GatewayServer.start(configuration: configuration)
        let stomp = server.stompPort != 0 ? " and stomp://\(configuration.host):\(server.stompPort)" : ""
        print("perigee listening on http://\(configuration.host):\(server.httpPort)\(stomp)")
        try await server.waitUntilClosed()
    }

    private static func printError(_ message: String) {
        var standardError = StandardError()
        print("perigee: \(message)", to: &standardError)
    }

    private static func environment() -> [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

private struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        // write(2) on descriptor 2: no shared FILE* state to reason about.
        var bytes = Array(string.utf8)
        _ = bytes.withUnsafeMutableBytes { Glibc.write(2, $0.baseAddress, $0.count) }
    }
}
