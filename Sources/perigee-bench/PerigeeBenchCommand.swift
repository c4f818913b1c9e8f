import ArgumentParser
import Bench
import Foundation

extension BenchMode: ExpressibleByArgument {}
extension ServerDialect: ExpressibleByArgument {}
extension SubscriberTransport: ExpressibleByArgument {}
extension PublishVia: ExpressibleByArgument {}

/// `perigee-bench`: the load client of issue 8.
@main
struct PerigeeBenchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "perigee-bench",
        abstract: "Load client for Perigee, RabbitMQ Web-STOMP and nchan: fan-out, idle memory, connect storms, ingest."
    )

    @Argument(help: "fanout | idle | connect | ingest") var mode: BenchMode
    @Option(help: "perigee | rabbitmq | nchan") var server: ServerDialect = .perigee
    @Option(help: "Server address.") var host = "127.0.0.1"
    @Option(help: "HTTP/WebSocket port of the server.") var port: Int?
    @Option(name: .customLong("stomp-port"), help: "STOMP/TCP port.") var stompPort: Int?
    @Option(help: "WebSocket/SockJS path (defaults: perigee /stomp, rabbitmq /ws, nchan /sub).") var path: String?
    @Option(help: "websocket | tcp | xhr-streaming | xhr-polling | eventsource") var transport: SubscriberTransport = .websocket
    @Flag(help: "Offer permessage-deflate on WebSocket subscribers.") var deflate = false
    @Option(help: "Subscribers.") var subscribers = 1000
    @Option(help: "Topics: 1 = all on one topic; N = one per subscriber.") var topics = 1
    @Option(help: "Publishers.") var publishers = 1
    @Option(name: .customLong("publish-via"), help: "http | tcp | websocket") var publishVia: PublishVia?
    @Option(help: "Publishes/s offered in total (one step).") var rate: Double?
    @Option(help: "START:FACTOR:MAX publish rates, stopping at the first failing step.") var ramp: String?
    @Option(name: .customLong("step-seconds"), help: "Seconds per ramp step.") var stepSeconds: Double = 5
    @Option(help: "Seconds for a single rate (fanout) or for ingest.") var duration: Double?
    @Option(name: .customLong("body-size"), help: "Body bytes (at least \(MessageBody.minimumSize)).") var bodySize = 64
    @Option(name: .customLong("p99-bound"), help: "A step fails when p99 latency exceeds this many ms.") var p99Bound: Double = 100
    @Option(name: .customLong("source-addresses"), help: "Bind client sockets round-robin to 127.0.0.1..127.0.0.K.") var sourceAddresses = 1
    @Option(help: "Processes for subscribers (children are copies of this program).") var processes = 1
    @Option(name: .customLong("server-pid"), help: "Server process ids (repeat or comma list) for RSS and CPU.") var serverPid: [String] = []
    @Option(name: .customLong("connect-concurrency"), help: "Handshakes in flight.") var connectConcurrency = 500
    @Option(name: .customLong("hold-seconds"), help: "Idle mode: hold before measuring RSS.") var holdSeconds: Double = 3
    @Option(help: "Client event loop threads.") var threads = 2
    @Option(help: "Overall timeout, seconds.") var timeout: Double = 120
    @Flag(help: "Print one JSON line last.") var json = false
    @Flag(name: .customLong("fail-on-loss"), help: "Exit 1 on any loss, reordering, duplicate or failed connection.") var failOnLoss = false
    @Option(name: .customLong("child-index"), help: .hidden) var childIndex: Int?
    @Option(name: .customLong("run-id"), help: .hidden) var runID: String?

    func validate() throws {
        if subscribers < 0 || topics < 1 || publishers < 0 || threads < 1 || processes < 1 || sourceAddresses < 1 {
            throw ValidationError("counts must be positive")
        }
        if sourceAddresses > 254 { throw ValidationError("--source-addresses is at most 254") }
        if mode == .fanout && publishers < 1 { throw ValidationError("fanout needs at least one publisher") }
        if let ramp, Self.parseRamp(ramp) == nil { throw ValidationError("--ramp is START:FACTOR:MAX with FACTOR > 1") }
    }

    static func parseRamp(_ text: String) -> [Double]? {
        let parts = text.split(separator: ":").compactMap { Double($0) }
        guard parts.count == 3, parts[0] > 0, parts[1] > 1, parts[2] >= parts[0] else { return nil }
        var rates: [Double] = []
        var rate = parts[0]
        while rate <= parts[2] * 1.000001 && rates.count < 100 {
            rates.append(rate)
            rate *= parts[1]
        }
        return rates
    }

    func run() async throws {
        var settings = BenchSettings()
        settings.mode = mode
        settings.server = server
        settings.host = host
        settings.port = port ?? (server == .rabbitmq ? 15674 : server == .nchan ? 80 : 9000)
        settings.stompPort = stompPort ?? 61613
        settings.path = path
        settings.transport = transport
        settings.deflate = deflate
        settings.subscribers = subscribers
        settings.topics = min(topics, max(subscribers, 1))
        settings.publishers = publishers
        settings.publishVia = publishVia
        if let ramp, let rates = Self.parseRamp(ramp) {
            settings.rates = rates
            settings.stepSeconds = stepSeconds
        } else {
            settings.rates = [rate ?? 100]
            settings.stepSeconds = duration ?? (mode == .ingest ? 10 : stepSeconds)
        }
        settings.bodySize = bodySize
        settings.p99BoundMs = p99Bound
        settings.sourceAddresses = sourceAddresses
        settings.processes = processes
        settings.serverPids = serverPid.flatMap { $0.split(separator: ",") }.compactMap { Int32($0.trimmingCharacters(in: .whitespaces)) }
        settings.connectConcurrency = connectConcurrency
        settings.holdSeconds = holdSeconds
        settings.threads = threads
        settings.timeoutSeconds = timeout
        settings.json = json
        settings.failOnLoss = failOnLoss
        settings.childIndex = childIndex
        settings.runID = runID ?? String(UInt32(truncatingIfNeeded: UInt64(getpid()) &* 2_654_435_761 &+ UInt64(time(nil))), radix: 36)

        let runner = BenchRunner(settings: settings)
        if childIndex != nil {
            await runner.runChild()
            return
        }
        Watchdog.start(seconds: timeout + 30)
        let report = await runner.run()
        print(report.table)
        if json { print(report.json.serialized) }
        fflush(nil)
        if failOnLoss && (report.sawLossOrFailure || !report.ok) { throw ExitCode(1) }
        if !report.ok { throw ExitCode(1) }
    }
}

/// Ends the process if a run overruns its timeout by far (a wedged peer must never hang a
/// harness).
enum Watchdog {
    static func start(seconds: Double) {
        DispatchQueue.global().asyncAfter(deadline: .now() + seconds) {
            FileHandle.standardError.write(Data("perigee-bench: overall timeout exceeded, exiting\n".utf8))
            exit(2)
        }
    }
}
