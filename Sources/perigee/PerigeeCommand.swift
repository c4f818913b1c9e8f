import ArgumentParser
import Dispatch
import Gateway
import Logging
import ServiceLifecycle

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

    @Option(name: .customLong("stomp-tls-port"), help: "Port for STOMP over TLS, used when the configuration has tls; 0 is off (default 61614).")
    var stompTLSPort: Int?

    @Option(name: .customLong("web-root"), help: "Folder of static files served at / (default web).")
    var webRoot: String?

    @Option(help: "Configuration file (YAML; see perigee.example.yaml).")
    var config: String?

    @Option(name: .customLong("check-config"), help: "Check a configuration file and exit: 0 when valid, 2 otherwise.")
    var checkConfig: String?

    @Option(name: .customLong("log-level"), help: "Least severe log level written: trace, debug, info, notice, warning, error or critical (default info).")
    var logLevel: String?

    @Option(name: .customLong("log-format"), help: "Log lines on standard error as text or json, one event per line (default text).")
    var logFormat: String?

    @Option(name: .customLong("drain-timeout"), help: "Seconds a drain (SIGTERM, SIGINT) waits for clients to leave; 0 closes at once (default 10).")
    var drainTimeout: Int?

    @Flag(help: "Mount the conformance test services (/echo/websocket).")
    var conformance = false

    func validate() throws {
        for (name, value) in [("--port", port), ("--stomp-port", stompPort), ("--stomp-tls-port", stompTLSPort)] {
            if let value, !(0...65535).contains(value) {
                throw ValidationError("\(name) must be 0...65535, got \(value)")
            }
        }
        if let drainTimeout, !(0...3_600).contains(drainTimeout) {
            throw ValidationError("--drain-timeout must be 0...3600 seconds, got \(drainTimeout)")
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
        let configuration: GatewayConfiguration
        do {
            configuration = try makeConfiguration()
        } catch {
            Self.printError(error.description)
            throw ExitCode(2)
        }

        let logFormat = configuration.logFormat
        let logLevel = configuration.logLevel
        LoggingSystem.bootstrap { label in
            LineLogHandler(label: label, format: logFormat, level: logLevel)
        }
        let server: GatewayServer
        do {
            server = try await GatewayServer.start(configuration: configuration)
        } catch let error as ConfigurationError {
            Self.printError(error.description)
            throw ExitCode(2)
        }
        let reloader = installReloadOnHangUp(server: server)
        let scheme = server.usesTLS ? "https" : "http"
        let stomp = server.stompPort != 0 ? " and stomp://\(configuration.host):\(server.stompPort)" : ""
        let stompTLS = server.stompTLSPort != 0 ? " and stomp+ssl://\(configuration.host):\(server.stompTLSPort)" : ""
        print("perigee listening on \(scheme)://\(configuration.host):\(server.httpPort)\(stomp)\(stompTLS)")
        // A supervisor reading a pipe learns the ports now, not when the buffer fills or at exit.
        fflush(nil)  // every output stream; naming `stdout` is not concurrency-safe in Swift 6
        // SIGTERM or SIGINT drains (GatewayService) and the process exits 0; a second one
        // during the drain exits at once with 1 (SecondSignalExit).
        let services = ServiceGroup(
            configuration: .init(services: [GatewayService(server: server)], gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "perigee"))
        )
        let secondSignal = SecondSignalExit.arm()
        try await services.run()
        secondSignal.forEach { $0.cancel() }
        reloader.cancel()
    }

    /// The configuration file, then `PERIGEE_*` environment variables, then the flags: at start
    /// and again on every reload.
    private func makeConfiguration() throws(ConfigurationError) -> GatewayConfiguration {
        var configuration = GatewayConfiguration()
        if let config {
            configuration = try ConfigurationLoader.load(file: config, into: configuration)
        }
        try ConfigurationLoader.applyEnvironment(Self.environment(), to: &configuration)
        if let host { configuration.host = host }
        if let port { configuration.port = port }
        if let stompPort { configuration.stompPort = stompPort }
        if let stompTLSPort { configuration.stompTLSPort = stompTLSPort }
        if let webRoot { configuration.webRoot = webRoot.isEmpty ? nil : webRoot }
        if conformance { configuration.conformance = true }
        if let logLevel {
            configuration.logLevel = try ConfigurationLoader.logLevel(logLevel, file: "command line", line: nil, key: "--log-level")
        }
        if let logFormat {
            configuration.logFormat = try ConfigurationLoader.logFormat(logFormat, file: "command line", line: nil, key: "--log-format")
        }
        if let drainTimeout { configuration.drainTimeoutSeconds = drainTimeout }
        return configuration
    }

    /// SIGHUP reads the configuration again and hands it to `GatewayServer.reload`, which
    /// applies access rules, API keys, JWT keys, hooks, limits and the TLS certificate without
    /// dropping a connection (see its documentation for what needs a restart). A file that does
    /// not load is refused with the error `--check-config` prints for it, and the running
    /// configuration stays. Signals are handled one at a time, in order. The log level and
    /// format are fixed at start.
    private func installReloadOnHangUp(server: GatewayServer) -> DispatchSourceSignal {
        let logger = Logger(label: "perigee")
        // The default action of SIGHUP ends the process; the dispatch source replaces it.
        signal(SIGHUP, SIG_IGN)
        let source = DispatchSource.makeSignalSource(signal: SIGHUP, queue: DispatchQueue(label: "perigee.reload"))
        source.setEventHandler {
            // On the dispatch queue, not an event loop: reading the files blocks.
            logger.info("SIGHUP: reloading the configuration")
            let configuration: GatewayConfiguration
            do {
                configuration = try self.makeConfiguration()
            } catch {
                logger.error("reload refused; the running configuration stays", metadata: ["error": "\(error)"])
                return
            }
            // This serial queue waits for the reload, so that a second SIGHUP reads the file
            // only after the first reload has been applied. The server logs the outcome.
            let done = DispatchSemaphore(value: 0)
            Task {
                try? await server.reload(configuration)
                done.signal()
            }
            done.wait()
        }
        source.resume()
        return source
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
