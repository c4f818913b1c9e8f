import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Calls the application's authorization hooks: POSTs a JSON body and reads the JSON answer
/// (see README "Authorization hooks"), through one pooled HTTP client shared by every session.
/// Every call ends within the configured timeout, so that no session waits on a hook forever.
///
/// A call that fails (timeout, unreachable, bad answer) or is not made (too many pending for
/// one address) is logged at `notice` with the hook's URL reduced to scheme, host, port and
/// path (`LogRedaction.url`): user info and query strings can hold secrets.
/// A reload that changes the `hooks` settings makes a new client and `retire`s this one: calls
/// already under way finish, and the client shuts down when the last one has.
final class HookClient: Sendable {
    /// The `hooks` settings.
    struct Settings: Sendable, Hashable {
        var connect: String?
        var subscribe: String?
        var send: String?
        /// SENDs to destinations matching one of these globs go to the send hook.
        var sendPrefixes: [String] = ["/**"]
        var timeoutMilliseconds: Int = 3_000
        /// Lowercased names of CONNECT headers withheld by default (`login`, `passcode`,
        /// `authorization`) or of HTTP request headers that the connect hook should see too.
        var forwardHeaders: Set<String> = []
        /// Whether a failed hook call (timeout, bad status, malformed answer) lets the session
        /// proceed as if no hook were configured. Off: the session fails closed.
        var failOpen = false
        /// Hook calls that may be pending at once for clients of one IP address; past it, the
        /// session fails closed whatever `failOpen` says (so that one address can neither starve
        /// the pool for everyone nor force a fail-open).
        var maxPendingPerAddress: Int = 32
        /// Whether a subscribe hook is asked about pattern subscriptions (`/topic/#`), which it
        /// must then judge for every destination they match; off: patterns are refused.
        var subscribePatterns = false
        /// Connections kept open to the application, per host. Calls beyond them queue, and
        /// the queueing counts against `timeoutMilliseconds`: size it for login bursts.
        var maxConnections: Int = 32

        var isEnabled: Bool { connect != nil || subscribe != nil || send != nil }
    }

    typealias Reply = HookReply

    /// Largest hook answer read, in bytes.
    static let maxAnswerBytes = HookReply.maxAnswerBytes

    let settings: Settings
    private let client: HTTPClient
    /// Counts each call by hook and outcome, with its duration.
    private let metrics: GatewayMetrics?
    /// Pending calls by client address.
    private let pending = NIOLockedValueBox<[String: Int]>([:])
    private let logger: Logger
    private let lifecycle = NIOLockedValueBox(Lifecycle())

    private struct Lifecycle {
        /// Calls under way, of every address.
        var calls = 0
        var retired = false
        /// Started once; every `shutdown()` awaits the same one.
        var shutdown: Task<Void, Never>?
    }

    init(settings: Settings, group: any EventLoopGroup, logger: Logger = Logger(label: "perigee"), metrics: GatewayMetrics? = nil) {
        self.settings = settings
        self.logger = logger
        self.metrics = metrics
        let timeout = TimeAmount.milliseconds(Int64(settings.timeoutMilliseconds))
        var configuration = HTTPClient.Configuration(
            timeout: .init(connect: timeout, read: timeout),
            connectionPool: .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: settings.maxConnections)
        )
        configuration.redirectConfiguration = .disallow
        configuration.decompression = .disabled
        self.client = HTTPClient(eventLoopGroup: group, configuration: configuration)
    }

    /// POSTs `body` to `url` for a client at `address`; the future always succeeds (failures
    /// are `.failed` or `.busy`) within the timeout, on `loop`. `hook` (`connect`,
    /// `subscribe`, `send`) names the call in metrics: `perigee_hook_calls_total{hook,
    /// outcome}` and `perigee_hook_duration_seconds{hook}`. A failed call is logged at `notice`.
    func call(_ hook: String, _ url: String, body: JSONValue, address: String?, on loop: any EventLoop) -> EventLoopFuture<Reply> {
        let logger = self.logger
        let metrics = self.metrics
        let started = NIODeadline.now()
        return admitted(url, body: body, address: address, on: loop).map { outcome in
            metrics?.hookCall(hook, outcome: outcome.label, nanoseconds: (NIODeadline.now() - started).nanoseconds)
            switch outcome.reply {
            case .failed(let detail), .busy(let detail):
                var metadata: Logger.Metadata = ["hook": .string(hook), "url": .string(LogRedaction.url(url)), "reason": .string(detail)]
                if let address { metadata["address"] = .string(address) }
                logger.notice("hook call failed", metadata: metadata)
            case .allowed, .refused:
                break
            }
            return outcome.reply
        }
    }

    /// A reply and its metric label (`allow`, `deny`, `error`, `timeout`, `busy`).
    private struct Outcome: Sendable {
        var reply: Reply
        var label: String

        init(_ reply: Reply, timedOut: Bool = false) {
            self.reply = reply
            switch reply {
            case .allowed: label = "allow"
            case .refused: label = "deny"
            case .busy: label = "busy"
            case .failed: label = timedOut ? "timeout" : "error"
            }
        }
    }

    /// `call` within the per-address limit.
    private func admitted(_ url: String, body: JSONValue, address: String?, on loop: any EventLoop) -> EventLoopFuture<Outcome> {
        guard let address else { return call(url, body: body, on: loop) }
        let limit = settings.maxPendingPerAddress
        let admitted = pending.withLockedValue { counts in
            guard counts[address, default: 0] < limit else { return false }
            counts[address, default: 0] += 1
            return true
        }
        guard admitted else {
            return loop.makeSucceededFuture(Outcome(.busy("was not asked: \(limit) calls are already pending for this client's address")))
        }
        let pending = self.pending
        return call(url, body: body, on: loop).always { _ in
            pending.withLockedValue { counts in
                let left = counts[address, default: 1] - 1
                counts[address] = left > 0 ? left : nil
            }
        }
    }

    private func call(_ url: String, body: JSONValue, on loop: any EventLoop) -> EventLoopFuture<Outcome> {
        let admitted = lifecycle.withLockedValue { state in
            guard state.shutdown == nil else { return false }
            state.calls += 1
            return true
        }
        // A decision that read the settings just before a reload replaced them.
        guard admitted else { return loop.makeSucceededFuture(Outcome(.failed("was replaced by a configuration reload"))) }
        return execute(url, body: body, on: loop).always { _ in
            let idle = self.lifecycle.withLockedValue { state in
                state.calls -= 1
                return state.retired && state.calls == 0
            }
            if idle { _ = self.startShutdown() }
        }
    }

    private func execute(_ url: String, body: JSONValue, on loop: any EventLoop) -> EventLoopFuture<Outcome> {
        let request: HTTPClient.Request
        do {
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/json")
            headers.add(name: "User-Agent", value: "Perigee")
            request = try HTTPClient.Request(url: url, method: .POST, headers: headers, body: .string(body.encoded))
        } catch {
            return loop.makeSucceededFuture(Outcome(.failed("has an invalid URL")))
        }
        let milliseconds = settings.timeoutMilliseconds
        let delegate = ResponseAccumulator(request: request, maxBodySize: Self.maxAnswerBytes)
        return client.execute(
            request: request,
            delegate: delegate,
            eventLoop: .delegate(on: loop),
            deadline: .now() + .milliseconds(Int64(milliseconds))
        ).futureResult.map { response in
            Outcome(HookReply(status: response.status, body: response.body))
        }.recover { error in
            if error is ResponseAccumulator.ResponseTooBigError {
                return Outcome(.failed("answered more than \(Self.maxAnswerBytes) bytes"))
            }
            if let error = error as? HTTPClientError,
                error == .deadlineExceeded || error == .readTimeout || error == .connectTimeout
            {
                return Outcome(.failed("did not answer within \(milliseconds) ms"), timedOut: true)
            }
            return Outcome(.failed("could not be reached"))
        }.hop(to: loop)
    }

    /// No new calls are coming (a reload replaced this client): shuts down once the calls under
    /// way have finished, which their timeout bounds.
    func retire() {
        let idle = lifecycle.withLockedValue { state in
            state.retired = true
            return state.calls == 0
        }
        if idle { _ = startShutdown() }
    }

    /// Shuts the client down now (calls under way fail); safe to call more than once and after
    /// `retire()`.
    func shutdown() async {
        await startShutdown().value
    }

    private func startShutdown() -> Task<Void, Never> {
        lifecycle.withLockedValue { state in
            if let task = state.shutdown { return task }
            let client = self.client
            // The task runs later on the cooperative pool, never inside this lock.
            let task = Task<Void, Never> { _ = try? await client.shutdown() }
            state.shutdown = task
            return task
        }
    }
}
