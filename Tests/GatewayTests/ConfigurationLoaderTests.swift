import Foundation
@testable import Gateway
import Hub
import Testing

@Suite struct ConfigurationLoaderTests {
    private func error(_ yaml: String) -> ConfigurationError? {
        do {
            _ = try ConfigurationLoader.parse(yaml, file: "test.yaml")
            return nil
        } catch {
            return error
        }
    }

    @Test func loadsTheShippedExample() throws {
        let configuration = try ConfigurationLoader.load(file: "perigee.example.yaml")
        #expect(configuration.port == 9000)
        #expect(configuration.stompPort == 61613)
        #expect(configuration.accessPolicy == .standard)
    }

    @Test func appliesValues() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            listen: {host: 0.0.0.0, port: 9100, stomp_port: 0}
            limits: {max_frame_size: 2048, max_message_size: 4096}
            heartbeat: {send_ms: 0, tolerance: 1.5}
            performance: {write_coalescing_us: 500, memory_trim_interval_s: 0}
            websocket: {permessage_deflate: false, ping_interval_s: 0}
            api_keys: {backend: "0123456789"}
            access:
              anonymous: {send: []}
            """,
            file: "test.yaml"
        )
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.port == 9100)
        #expect(configuration.stompPort == 0)
        #expect(configuration.hub.limits.maxFrameSize == 2048)
        #expect(configuration.stompWebSocket.maxMessageSize == 4096)
        #expect(configuration.hub.heartbeatSendMilliseconds == 0)
        #expect(configuration.hub.heartbeatTolerance == 1.5)
        #expect(configuration.hub.writeCoalescingMicroseconds == 500)
        #expect(configuration.memoryTrimInterval == nil)
        #expect(!configuration.stompWebSocket.deflate.isEnabled)
        #expect(configuration.stompWebSocket.pingInterval == nil)
        #expect(configuration.apiKeys == ["backend": "0123456789"])
        #expect(configuration.accessPolicy?.anonymous.send == [])
        #expect(configuration.accessPolicy?.anonymous.subscribe == ["/topic/**"])
    }

    /// A configuration file without settings is refused (a file truncated at the moment of a
    /// SIGHUP must not reset access rules and keys); `{}` asks for the defaults.
    @Test func aFileWithoutSettingsIsRefused() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("perigee-empty-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for text in ["", "# only a comment\n", "\n\n"] {
            let path = folder.appendingPathComponent("perigee.yaml").path
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            let error = #expect(throws: ConfigurationError.self) { try ConfigurationLoader.load(file: path) }
            #expect(error?.problem.contains("no settings") == true)
        }
        let path = folder.appendingPathComponent("defaults.yaml").path
        try "{}\n".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try ConfigurationLoader.load(file: path).accessPolicy == GatewayConfiguration().accessPolicy)
    }

    /// Issue 10: `drain.timeout_s` (seconds, 0 closes at once) and its errors.
    @Test func drainTimeout() throws {
        #expect(GatewayConfiguration().drainTimeout == .seconds(10))
        #expect(try ConfigurationLoader.load(file: "perigee.example.yaml").drainTimeout == .seconds(10))
        #expect(try ConfigurationLoader.parse("drain: {timeout_s: 25}\n", file: "test.yaml").drainTimeout == .seconds(25))
        #expect(try ConfigurationLoader.parse("drain: {timeout_s: 0}\n", file: "test.yaml").drainTimeout == .zero)
        #expect(error("drain: {timeout_s: -1}\n")?.key == "drain.timeout_s")
        #expect(error("drain: {timeout_s: soon}\n")?.key == "drain.timeout_s")
        #expect(error("drain: {timeout_ms: 5}\n")?.key == "drain.timeout_ms")
    }

    @Test func readsTheMetricsSection() throws {
        let defaults = try ConfigurationLoader.parse("listen: {port: 9100}\n", file: "test.yaml")
        #expect(defaults.metrics == MetricsSettings())
        #expect(defaults.metrics.enabled && defaults.metrics.access == .loopback)

        let keyed = try ConfigurationLoader.parse("api_keys: {ops: \"0123456789\"}\nmetrics: {enabled: true, access: api_key}\n", file: "test.yaml")
        #expect(keyed.metrics.access == .apiKey)
        let off = try ConfigurationLoader.parse("metrics: {enabled: false, access: open}\n", file: "test.yaml")
        #expect(!off.metrics.enabled && off.metrics.access == .open)

        let badAccess = try #require(error("metrics:\n  access: everyone\n"))
        #expect(badAccess.key == "metrics.access")
        #expect(badAccess.line == 2)
        #expect(badAccess.problem == "expected loopback, api_key or open, got \"everyone\"")
        let keyless = try #require(error("metrics:\n  access: api_key\n"))
        #expect(keyless.key == "metrics.access")
        #expect(keyless.problem.contains("api_keys"))
        let unknown = try #require(error("metrics: {path: /m}\n"))
        #expect(unknown.key == "metrics.path")
    }

    @Test func namesTheKeyTheLineAndWhatWasExpected() throws {
        let badValue = try #require(error("listen:\n  port: 9000\nlimits:\n  max_headers: lots\n"))
        #expect(badValue.key == "limits.max_headers")
        #expect(badValue.line == 4)
        #expect(badValue.problem.contains("expected an integer"))
        #expect(badValue.description == "test.yaml:4: limits.max_headers: expected an integer in 1...10000, got \"lots\"")

        let unknown = try #require(error("listen:\n  prot: 1\n"))
        #expect(unknown.key == "listen.prot")
        #expect(unknown.line == 2)
        #expect(unknown.problem.contains("expected one of host, port, stomp_port"))

        let syntax = try #require(error("listen: [\n"))
        #expect(syntax.line != nil)
        #expect(syntax.problem.hasPrefix("not valid YAML"))

        let glob = try #require(error("access:\n  anonymous:\n    send: [topic]\n"))
        #expect(glob.key == "access.anonymous.send")
        #expect(error("api_keys: {k: short}\n")?.key == "api_keys.k")
        #expect(error("listen: {port: 70000}\n")?.key == "listen.port")
    }

    /// Issue 9: `auth.jwt`, `access.authenticated` and `hooks`, and their errors.
    @Test func identityKeys() throws {
        let text = """
            auth:
              jwt: {hs256_secret: "\(String(repeating: "k", count: 32))", issuer: "https://i", audience: perigee, leeway_s: 5}
            access:
              authenticated: {subscribe: ["/topic/**"], send: ["/topic/chat.*"]}
            hooks:
              connect: http://127.0.0.1:8000/perigee/connect
              send: http://127.0.0.1:8000/perigee/send
              send_prefixes: ["/topic/shouts"]
              timeout_ms: 500
              forward_headers: [Accept-Language, passcode]
              on_failure: allow

            """
        let configuration = try ConfigurationLoader.parse(text, file: "test.yaml")
        #expect(configuration.jwt.hs256Secret?.count == 32)
        #expect(configuration.jwt.issuer == "https://i")
        #expect(configuration.jwt.audience == "perigee")
        #expect(configuration.jwt.leewaySeconds == 5)
        #expect(configuration.accessPolicy?.authenticated.send == ["/topic/chat.*"])
        #expect(configuration.hooks.connect == "http://127.0.0.1:8000/perigee/connect")
        #expect(configuration.hooks.subscribe == nil)
        #expect(configuration.hooks.sendPrefixes == ["/topic/shouts"])
        #expect(configuration.hooks.timeoutMilliseconds == 500)
        #expect(configuration.hooks.forwardHeaders == ["accept-language", "passcode"])
        #expect(configuration.hooks.failOpen)

        #expect(error("auth: {jwt: {hs256_secret: short}}\n")?.problem.contains("at least 32 bytes") == true)
        #expect(error("auth: {jwt: {public_key_file: /nonexistent.pem}}\n")?.key == "auth.jwt.public_key_file")
        #expect(error("auth: {jwt: {algorithm: HS256}}\n")?.key == "auth.jwt.algorithm")
        #expect(error("hooks: {connect: ftp://x}\n")?.problem.contains("http://") == true)
        #expect(error("hooks: {on_failure: maybe}\n")?.key == "hooks.on_failure")
        #expect(error("hooks: {send_prefixes: [shouts]}\n")?.key == "hooks.send_prefixes")
        #expect(error("hooks: {forward_headers: [\"bad: name\"]}\n")?.key == "hooks.forward_headers")
        #expect(error("access: {everyone: {send: []}}\n")?.key == "access.everyone")
    }

    @Test func environmentOverridesTheFile() throws {
        var configuration = try ConfigurationLoader.parse("listen: {port: 9100}\n", file: "test.yaml")
        try ConfigurationLoader.applyEnvironment(["PERIGEE_PORT": "9200", "PERIGEE_WEB_ROOT": ""], to: &configuration)
        #expect(configuration.port == 9200)
        #expect(configuration.webRoot == nil)
        #expect(throws: ConfigurationError.self) {
            try ConfigurationLoader.applyEnvironment(["PERIGEE_PORT": "x"], to: &configuration)
        }
    }

    @Test func logLevelAndFormat() throws {
        let configuration = try ConfigurationLoader.parse("log: {level: debug, format: json}\n", file: "test.yaml")
        #expect(configuration.logLevel == .debug)
        #expect(configuration.logFormat == .json)
        #expect(GatewayConfiguration().logLevel == .info)
        #expect(GatewayConfiguration().logFormat == .text)
        let level = error("log:\n  level: verbose\n")
        #expect(level?.key == "log.level")
        #expect(level?.line == 2)
        #expect(level?.problem == "expected one of trace, debug, info, notice, warning, error, critical, got \"verbose\"")
        #expect(error("log: {format: xml}\n")?.problem == "expected text or json, got \"xml\"")
        #expect(error("log: {colour: true}\n")?.key == "log.colour")
    }

    @Test func logEnvironmentOverridesTheFile() throws {
        var configuration = try ConfigurationLoader.parse("log: {level: debug, format: json}\n", file: "test.yaml")
        try ConfigurationLoader.applyEnvironment(["PERIGEE_LOG_LEVEL": "warning", "PERIGEE_LOG_FORMAT": "text"], to: &configuration)
        #expect(configuration.logLevel == .warning)
        #expect(configuration.logFormat == .text)
        do {
            try ConfigurationLoader.applyEnvironment(["PERIGEE_LOG_FORMAT": "JSON"], to: &configuration)
            Issue.record("an invalid PERIGEE_LOG_FORMAT was accepted")
        } catch {
            #expect(error.description == "environment: PERIGEE_LOG_FORMAT: expected text or json, got \"JSON\"")
        }
    }

    @Test func accessGlobs() throws {
        let policy = AccessPolicy.standard
        let key = Principal(user: "k", details: Identity(kind: .apiKey))
        let shouts = try #require(Destination("/topic/shouts"))
        let other = try #require(Destination("/topic/other"))
        let queue = try #require(Destination("/queue/jobs"))
        #expect(policy.allows(.anonymous, .subscribe, other))
        #expect(policy.allows(.anonymous, .send, shouts))
        #expect(!policy.allows(.anonymous, .send, other))
        #expect(!policy.allows(.anonymous, .subscribe, queue))
        #expect(policy.allows(key, .send, queue))
        let narrow = AccessPolicy(
            anonymous: .init(subscribe: ["/topic/news.*"], send: []),
            apiKey: .init(subscribe: [], send: ["/queue/*"])
        )
        #expect(narrow.allows(.anonymous, .subscribe, try #require(Destination("/topic/news.sport"))))
        #expect(narrow.allows(key, .send, queue))
        #expect(!narrow.allows(key, .send, shouts))
    }

    // MARK: Issue 11: channels and limits.max_history_bytes

    @Test func theExampleTurnsOnHistoryAndPresenceForShoutsAndOtherwiseKeepsTheDefaults() throws {
        let example = try ConfigurationLoader.load(file: "perigee.example.yaml")
        let shouts = try #require(Destination("/topic/shouts"))
        #expect(example.channels.policy(for: shouts) == ChannelPolicy(history: 100, historyTTLSeconds: 3600, presence: true, joinLeave: true))
        #expect(example.hub.channelPolicy(shouts) == example.channels.policy(for: shouts))
        #expect(example.hub.channelPolicy(try #require(Destination("/topic/other"))) == .none)
        #expect(example.hub.maxHistoryBytes == HubConfiguration().maxHistoryBytes)
        // `make run` serves with the example: apart from channels it must be the defaults.
        let changes = ConfigurationChanges(from: GatewayConfiguration(), to: example)
        #expect(changes.applied == ["channels"])
        #expect(changes.needRestart == [])
    }

    @Test func readsChannels() throws {
        let configuration = try ConfigurationLoader.parse(
            """
            channels:
              "/topic/shouts": {history: 100, history_ttl_s: 300, presence: true, join_leave: true}
              "/topic/chat.*":
                history: 100000
                presence: true
              "/topic/quiet": {}
              "/**": {history_ttl_s: 2592000}
            limits:
              max_history_bytes: 0
            """,
            file: "test.yaml"
        )
        #expect(configuration.channels.rules.map(\.glob) == ["/topic/shouts", "/topic/chat.*", "/topic/quiet", "/**"])
        #expect(configuration.channels.rules[0].policy == ChannelPolicy(history: 100, historyTTLSeconds: 300, presence: true, joinLeave: true))
        #expect(configuration.channels.rules[1].policy == ChannelPolicy(history: 100_000, presence: true))
        #expect(configuration.channels.rules[2].policy == .none)
        #expect(configuration.hub.channelPolicy(try #require(Destination("/topic/chat.a"))).history == 100_000)
        #expect(configuration.hub.channelPolicy(try #require(Destination("/topic/x"))).historyTTLSeconds == 2_592_000)
        #expect(configuration.hub.maxHistoryBytes == 0)
        #expect(try ConfigurationLoader.parse("channels: {}\n", file: "test.yaml").channels == .none)
        #expect(try ConfigurationLoader.parse("limits: {max_history_bytes: 17179869184}\n", file: "test.yaml").hub.maxHistoryBytes == 1 << 34)
    }

    @Test func refusesBadChannels() throws {
        let notMapping = try #require(error("channels: [\"/topic/a\"]\n"))
        #expect(notMapping.key == "channels")
        #expect(notMapping.problem.contains("expected a mapping of destination globs"))

        let badGlob = try #require(error("channels:\n  \"topic/a\": {history: 1}\n"))
        #expect(badGlob.key == "channels[\"topic/a\"]")
        #expect(badGlob.line == 2)
        #expect(badGlob.problem.contains("expected a destination glob"))
        #expect(error("channels: {\"/topic/a**\": {history: 1}}\n")?.problem.contains("expected a destination glob") == true)

        for glob in ["/queue/jobs", "/queue/**", "/topic", "/x/*"] {
            let queue = try #require(error("channels: {\"\(glob)\": {history: 1}}\n"), "\(glob)")
            #expect(queue.problem == "history and presence are kept for topics only: the glob must be able to match a /topic/ destination", "\(glob)")
        }

        for glob in ["/topic/#", "/topic/chat.#", "/**/#"] {
            let hash = try #require(error("channels: {\"\(glob)\": {history: 1}}\n"), "\(glob)")
            #expect(hash.problem.hasPrefix("# is a SUBSCRIBE wildcard and never names a topic"), "\(glob)")
        }

        let twice = try #require(error("channels:\n  \"/topic/a\": {history: 1}\n  \"/topic/a\": {history: 2}\n"))
        #expect(twice.problem.contains("duplicated key"))

        let joinLeave = try #require(error("channels:\n  \"/topic/a\":\n    history: 5\n    join_leave: true\n"))
        #expect(joinLeave.key == "channels[\"/topic/a\"].join_leave")
        #expect(joinLeave.line == 4)
        #expect(joinLeave.problem == "join_leave: true needs presence: true (join and leave events come from the presence list)")
        #expect(error("channels: {\"/topic/a\": {join_leave: true, presence: false}}\n") != nil)
        #expect(error("channels: {\"/topic/a\": {join_leave: false}}\n") == nil)

        let history = try #require(error("channels: {\"/topic/a\": {history: 100001}}\n"))
        #expect(history.key == "channels[\"/topic/a\"].history")
        #expect(history.problem == "expected an integer in 0...100000, got \"100001\"")
        #expect(error("channels: {\"/topic/a\": {history: -1}}\n")?.key == "channels[\"/topic/a\"].history")
        #expect(error("channels: {\"/topic/a\": {history: lots}}\n")?.key == "channels[\"/topic/a\"].history")
        let ttl = try #require(error("channels: {\"/topic/a\": {history_ttl_s: 2592001}}\n"))
        #expect(ttl.problem == "expected an integer in 0...2592000, got \"2592001\"")
        #expect(error("channels: {\"/topic/a\": {presence: maybe}}\n")?.problem == "expected true or false, got \"maybe\"")
        let unknown = try #require(error("channels: {\"/topic/a\": {replay: 5}}\n"))
        #expect(unknown.key == "channels[\"/topic/a\"].replay")
        #expect(unknown.problem.contains("expected one of history, history_ttl_s, join_leave, presence"))
        #expect(error("channels: {\"/topic/a\": 5}\n")?.problem == "expected a mapping of keys to values")

        let tooMany = (0...ChannelRules.maxRules).map { "  \"/topic/t\($0)\": {history: 1}" }.joined(separator: "\n")
        #expect(error("channels:\n\(tooMany)\n")?.problem == "expected at most \(ChannelRules.maxRules) entries, got \(ChannelRules.maxRules + 1)")

        let bytes = try #require(error("limits: {max_history_bytes: 17179869185}\n"))
        #expect(bytes.key == "limits.max_history_bytes")
        #expect(error("limits: {max_history_bytes: -1}\n")?.key == "limits.max_history_bytes")
    }
}
