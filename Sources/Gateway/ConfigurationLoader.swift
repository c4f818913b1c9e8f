import Hub
import Logging
import NIOCore
import Yams

/// Reads `perigee.yaml` (see `perigee.example.yaml`) on top of the defaults, and applies
/// `PERIGEE_*` environment variables; command-line flags are applied last by the caller.
///
/// The file is walked as a YAML node tree rather than decoded, so that every error can name
/// its key and line, and so that a misspelt key is reported instead of silently ignored.
public enum ConfigurationLoader {
    public static func load(file path: String, into base: GatewayConfiguration = .init()) throws(ConfigurationError) -> GatewayConfiguration {
        let text: String
        do {
            text = String(decoding: try FileReader.read(path, maxSize: 1 << 20), as: UTF8.self)
        } catch {
            throw ConfigurationError(file: path, line: nil, key: "", problem: "cannot read the file")
        }
        return try parse(text, file: path, into: base, allowsEmpty: false)
    }

    /// - Parameter allowsEmpty: whether a text without any setting (empty, or comments only)
    ///   yields `base`. A configuration *file* without settings is refused: a file truncated
    ///   by an editor or a deployment tool at the moment of a SIGHUP would otherwise reset
    ///   access rules, API keys and JWT keys to their open defaults.
    public static func parse(_ text: String, file: String, into base: GatewayConfiguration = .init(), allowsEmpty: Bool = true) throws(ConfigurationError) -> GatewayConfiguration {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            throw ConfigurationError(file: file, line: Self.line(of: error), key: "", problem: "not valid YAML: \(Self.problem(of: error))")
        } catch {
            throw ConfigurationError(file: file, line: nil, key: "", problem: "not valid YAML")
        }
        var configuration = base
        guard let root else {
            guard allowsEmpty else {
                throw ConfigurationError(file: file, line: nil, key: "", problem: "the file holds no settings (empty, or comments only); write {} for all defaults")
            }
            return configuration
        }
        var reader = Reader(file: file)
        try reader.apply(root, to: &configuration)
        return configuration
    }

    /// `PERIGEE_HOST`, `PERIGEE_PORT`, `PERIGEE_STOMP_PORT`, `PERIGEE_WEB_ROOT`,
    /// `PERIGEE_LOG_LEVEL`, `PERIGEE_LOG_FORMAT`.
    /// - Throws: `ConfigurationError` naming the variable when a value is invalid.
    public static func applyEnvironment(_ environment: [String: String], to configuration: inout GatewayConfiguration) throws(ConfigurationError) {
        if let host = environment["PERIGEE_HOST"] { configuration.host = host }
        if let port = environment["PERIGEE_PORT"] {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw ConfigurationError(file: "environment", line: nil, key: "PERIGEE_PORT", problem: "expected a port 0...65535, got \"\(port)\"")
            }
            configuration.port = value
        }
        if let port = environment["PERIGEE_STOMP_PORT"] {
            guard let value = Int(port), (0...65535).contains(value) else {
                throw ConfigurationError(file: "environment", line: nil, key: "PERIGEE_STOMP_PORT", problem: "expected a port 0...65535, got \"\(port)\"")
            }
            configuration.stompPort = value
        }
        if let root = environment["PERIGEE_WEB_ROOT"] { configuration.webRoot = root.isEmpty ? nil : root }
        if let level = environment["PERIGEE_LOG_LEVEL"] {
            configuration.logLevel = try logLevel(level, file: "environment", line: nil, key: "PERIGEE_LOG_LEVEL")
        }
        if let format = environment["PERIGEE_LOG_FORMAT"] {
            configuration.logFormat = try logFormat(format, file: "environment", line: nil, key: "PERIGEE_LOG_FORMAT")
        }
    }

    /// A swift-log level by name: `trace`, `debug`, `info`, `notice`, `warning`, `error`,
    /// `critical` (the command line's `--log-level` takes the same names).
    /// - Throws: `ConfigurationError` listing the names when `text` is none of them.
    public static func logLevel(_ text: String, file: String, line: Int?, key: String) throws(ConfigurationError) -> Logger.Level {
        guard let level = Logger.Level(rawValue: text) else {
            let names = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw ConfigurationError(file: file, line: line, key: key, problem: "expected one of \(names), got \"\(text)\"")
        }
        return level
    }

    /// A log format by name: `text` or `json`.
    /// - Throws: `ConfigurationError` when `text` is neither.
    public static func logFormat(_ text: String, file: String, line: Int?, key: String) throws(ConfigurationError) -> LogFormat {
        guard let format = LogFormat(rawValue: text) else {
            throw ConfigurationError(file: file, line: line, key: key, problem: "expected text or json, got \"\(text)\"")
        }
        return format
    }

    private static func line(of error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _):
            return mark.line
        default:
            return nil
        }
    }

    private static func problem(of error: YamlError) -> String {
        switch error {
        case .scanner(_, let problem, _, _), .parser(_, let problem, _, _), .composer(_, let problem, _, _):
            return problem
        default:
            return "\(error)"
        }
    }
}

/// Walks the YAML tree, checking each key against the schema.
private struct Reader {
    let file: String

    private func fail(_ node: Node?, _ key: String, _ problem: String) -> ConfigurationError {
        ConfigurationError(file: file, line: node?.mark?.line, key: key, problem: problem)
    }

    /// The entries of a mapping, refusing keys outside `allowed`.
    private func entries(_ node: Node, _ key: String, allowed: Set<String>) throws(ConfigurationError) -> [(String, Node)] {
        guard let mapping = node.mapping else { throw fail(node, key, "expected a mapping of keys to values") }
        var result: [(String, Node)] = []
        for (keyNode, value) in mapping {
            guard let name = keyNode.string else { throw fail(keyNode, key, "keys must be strings") }
            let path = key.isEmpty ? name : "\(key).\(name)"
            guard allowed.contains(name) else {
                throw fail(keyNode, path, "unknown key; expected one of \(allowed.sorted().joined(separator: ", "))")
            }
            result.append((name, value))
        }
        return result
    }

    private func int(_ node: Node, _ key: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let scalar = node.scalar, let value = Int(scalar.string), range.contains(value) else {
            throw fail(node, key, "expected an integer in \(range.lowerBound)...\(range.upperBound), got \(describe(node))")
        }
        return value
    }

    private func double(_ node: Node, _ key: String, _ range: ClosedRange<Double>) throws(ConfigurationError) -> Double {
        guard let scalar = node.scalar, let value = Double(scalar.string), range.contains(value) else {
            throw fail(node, key, "expected a number in \(range.lowerBound)...\(range.upperBound), got \(describe(node))")
        }
        return value
    }

    private func bool(_ node: Node, _ key: String) throws(ConfigurationError) -> Bool {
        guard let value = node.bool else { throw fail(node, key, "expected true or false, got \(describe(node))") }
        return value
    }

    private func string(_ node: Node, _ key: String) throws(ConfigurationError) -> String {
        guard let scalar = node.scalar else { throw fail(node, key, "expected a string, got \(describe(node))") }
        return scalar.string
    }

    private func globs(_ node: Node, _ key: String) throws(ConfigurationError) -> [String] {
        guard let sequence = node.sequence else { throw fail(node, key, "expected a list of destination globs like \"/topic/**\"") }
        var result: [String] = []
        for item in sequence {
            let glob = try string(item, key)
            guard AccessPolicy.isValidGlob(glob) else {
                throw fail(item, key, "expected a destination glob like \"/topic/**\" or \"/queue/jobs\", got \"\(glob)\"")
            }
            result.append(glob)
        }
        return result
    }

    private func describe(_ node: Node) -> String {
        if let scalar = node.scalar { return "\"\(scalar.string)\"" }
        if node.mapping != nil { return "a mapping" }
        return "a list"
    }

    private func url(_ node: Node, _ key: String) throws(ConfigurationError) -> String {
        let text = try string(node, key)
        guard text.hasPrefix("http://") || text.hasPrefix("https://"), text.utf8.count > 8, !text.contains(where: { $0 == " " || $0.isNewline }) else {
            throw fail(node, key, "expected an http:// or https:// URL, got \"\(text)\"")
        }
        return text
    }

    private func applyJWT(_ node: Node, to settings: inout TokenVerifier.Settings) throws(ConfigurationError) {
        for (key, value) in try entries(node, "auth.jwt", allowed: ["hs256_secret", "public_key_file", "issuer", "audience", "leeway_s"]) {
            let path = "auth.jwt.\(key)"
            switch key {
            case "hs256_secret":
                let secret = try string(value, path)
                // RFC 7518 §3.2: the key must be at least as long as the hash (256 bits).
                guard secret.utf8.count >= 32 else { throw fail(value, path, "expected a secret of at least 32 bytes (RFC 7518 §3.2)") }
                settings.hs256Secret = secret
            case "public_key_file":
                let file = try string(value, path)
                let pem: String
                do {
                    pem = String(decoding: try FileReader.read(file, maxSize: 64 * 1024), as: UTF8.self)
                } catch {
                    throw fail(value, path, "cannot read \"\(file)\"")
                }
                guard TokenVerifier.publicKeyKind(pem) != nil else {
                    throw fail(value, path, "\"\(file)\" is not a PEM public key of RSA (at least 2048 bits, for RS256) or P-256 (for ES256)")
                }
                settings.publicKeyPEM = pem
            case "issuer": settings.issuer = try string(value, path)
            case "audience": settings.audience = try string(value, path)
            default: settings.leewaySeconds = try int(value, path, 0...3_600)
            }
        }
    }

    private func applyHooks(_ node: Node, to settings: inout HookClient.Settings) throws(ConfigurationError) {
        let keys: Set<String> = [
            "connect", "subscribe", "send", "send_prefixes", "timeout_ms", "forward_headers", "on_failure", "max_connections",
            "max_pending_per_address", "subscribe_patterns",
        ]
        for (key, value) in try entries(node, "hooks", allowed: keys) {
            let path = "hooks.\(key)"
            switch key {
            case "connect": settings.connect = try url(value, path)
            case "subscribe": settings.subscribe = try url(value, path)
            case "send": settings.send = try url(value, path)
            case "send_prefixes": settings.sendPrefixes = try globs(value, path)
            case "timeout_ms": settings.timeoutMilliseconds = try int(value, path, 1...60_000)
            case "max_connections": settings.maxConnections = try int(value, path, 1...1_024)
            case "max_pending_per_address": settings.maxPendingPerAddress = try int(value, path, 1...100_000)
            case "subscribe_patterns": settings.subscribePatterns = try bool(value, path)
            case "forward_headers":
                guard let sequence = value.sequence else { throw fail(value, path, "expected a list of header names") }
                var names: Set<String> = []
                for item in sequence {
                    let name = try string(item, path)
                    guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }) else {
                        throw fail(item, path, "expected a header name, got \"\(name)\"")
                    }
                    names.insert(name.lowercased())
                }
                settings.forwardHeaders = names
            default:
                let policy = try string(value, path)
                guard policy == "deny" || policy == "allow" else { throw fail(value, path, "expected deny or allow, got \"\(policy)\"") }
                settings.failOpen = policy == "allow"
            }
        }
    }

    mutating func apply(_ root: Node, to configuration: inout GatewayConfiguration) throws(ConfigurationError) {
        var policy = AccessPolicy.standard
        var tlsPort: (value: Int, node: Node)?
        let sections: Set<String> = [
            "listen", "static", "limits", "timeouts", "heartbeat", "websocket", "sockjs", "api_keys", "access", "conformance", "performance",
            "tls", "origins", "auth", "hooks", "log", "drain", "metrics", "channels",
        ]
        var metricsAccessNode: Node?
        for (name, node) in try entries(root, "", allowed: sections) {
            switch name {
            case "listen":
                for (key, value) in try entries(node, "listen", allowed: ["host", "port", "stomp_port", "stomp_tls_port"]) {
                    switch key {
                    case "host": configuration.host = try string(value, "listen.host")
                    case "port": configuration.port = try int(value, "listen.port", 0...65535)
                    case "stomp_tls_port": tlsPort = (try int(value, "listen.stomp_tls_port", 0...65535), value)
                    default: configuration.stompPort = try int(value, "listen.stomp_port", 0...65535)
                    }
                }
            case "static":
                for (_, value) in try entries(node, "static", allowed: ["root"]) {
                    let root = try string(value, "static.root")
                    configuration.webRoot = root.isEmpty ? nil : root
                }
            case "limits":
                for (key, value) in try entries(
                    node, "limits",
                    allowed: [
                        "max_frame_size", "max_message_size", "max_headers", "max_header_length", "max_outbound_bytes",
                        "max_queued_messages", "max_queues", "max_subscriptions", "max_unacked_messages", "max_unacked_bytes",
                        "max_transactions", "max_frames_per_transaction", "max_transaction_bytes",
                        "max_history_bytes",
                    ]
                ) {
                    let path = "limits.\(key)"
                    switch key {
                    case "max_frame_size": configuration.hub.limits.maxFrameSize = try int(value, path, 1_024...(64 << 20))
                    case "max_message_size":
                        let size = try int(value, path, 1_024...(64 << 20))
                        configuration.stompWebSocket.maxMessageSize = size
                        configuration.stompWebSocket.maxFrameSize = size
                    case "max_headers": configuration.hub.limits.maxHeaders = try int(value, path, 1...10_000)
                    case "max_header_length": configuration.hub.limits.maxHeaderLength = try int(value, path, 64...(1 << 20))
                    case "max_outbound_bytes": configuration.hub.maxOutboundBytes = try int(value, path, 1_024...(1 << 30))
                    case "max_queued_messages": configuration.hub.maxQueuedMessages = try int(value, path, 0...10_000_000)
                    case "max_queues": configuration.hub.maxQueues = try int(value, path, 0...10_000_000)
                    case "max_unacked_messages": configuration.hub.maxUnacknowledgedMessages = try int(value, path, 1...10_000_000)
                    case "max_unacked_bytes": configuration.hub.maxUnacknowledgedBytes = try int(value, path, 1_024...(1 << 34))
                    case "max_transactions": configuration.hub.maxTransactions = try int(value, path, 0...10_000)
                    case "max_frames_per_transaction": configuration.hub.maxFramesPerTransaction = try int(value, path, 1...1_000_000)
                    case "max_transaction_bytes": configuration.hub.maxTransactionBytes = try int(value, path, 1_024...(1 << 34))
                    case "max_history_bytes": configuration.hub.maxHistoryBytes = try int(value, path, 0...(1 << 34))
                    default: configuration.hub.maxSubscriptions = try int(value, path, 1...100_000)
                    }
                }
            case "timeouts":
                for (key, value) in try entries(
                    node, "timeouts",
                    allowed: ["connect_ms", "http_head_ms", "http_body_ms", "http_keepalive_ms", "linger_ms"]
                ) {
                    let path = "timeouts.\(key)"
                    let milliseconds = try int(value, path, 1...86_400_000)
                    switch key {
                    case "connect_ms": configuration.hub.connectTimeoutMilliseconds = milliseconds
                    case "http_head_ms": configuration.httpHeadTimeout = .milliseconds(Int64(milliseconds))
                    case "http_body_ms": configuration.httpBodyTimeout = .milliseconds(Int64(milliseconds))
                    case "http_keepalive_ms": configuration.httpKeepAliveTimeout = .milliseconds(Int64(milliseconds))
                    default: configuration.lingerTimeout = .milliseconds(Int64(milliseconds))
                    }
                }
            case "performance":
                for (key, value) in try entries(node, "performance", allowed: ["write_coalescing_us", "memory_trim_interval_s"]) {
                    let path = "performance.\(key)"
                    switch key {
                    case "write_coalescing_us": configuration.hub.writeCoalescingMicroseconds = try int(value, path, 0...100_000)
                    default:
                        let seconds = try int(value, path, 0...86_400)
                        configuration.memoryTrimInterval = seconds == 0 ? nil : .seconds(Int64(seconds))
                    }
                }
            case "drain":
                for (_, value) in try entries(node, "drain", allowed: ["timeout_s"]) {
                    configuration.drainTimeout = .seconds(Int64(try int(value, "drain.timeout_s", 0...3_600)))
                }
            case "heartbeat":
                for (key, value) in try entries(node, "heartbeat", allowed: ["send_ms", "receive_ms", "tolerance"]) {
                    let path = "heartbeat.\(key)"
                    switch key {
                    case "send_ms": configuration.hub.heartbeatSendMilliseconds = try int(value, path, 0...3_600_000)
                    case "receive_ms": configuration.hub.heartbeatReceiveMilliseconds = try int(value, path, 0...3_600_000)
                    default: configuration.hub.heartbeatTolerance = try double(value, path, 1...10)
                    }
                }
            case "websocket":
                for (key, value) in try entries(node, "websocket", allowed: ["ping_interval_s", "idle_timeout_s", "permessage_deflate"]) {
                    let path = "websocket.\(key)"
                    switch key {
                    case "ping_interval_s":
                        let seconds = try int(value, path, 0...86_400)
                        configuration.stompWebSocket.pingInterval = seconds == 0 ? nil : .seconds(Int64(seconds))
                    case "idle_timeout_s":
                        let seconds = try int(value, path, 0...86_400)
                        configuration.stompWebSocket.idleTimeout = seconds == 0 ? nil : .seconds(Int64(seconds))
                    default:
                        configuration.stompWebSocket.deflate.isEnabled = try bool(value, path)
                    }
                }
            case "sockjs":
                for (key, value) in try entries(
                    node, "sockjs",
                    allowed: [
                        "websocket", "cookie_needed", "heartbeat_s", "disconnect_delay_s", "response_limit", "max_queued_bytes",
                        "max_sessions", "max_sessions_per_address", "sockjs_url",
                    ]
                ) {
                    let path = "sockjs.\(key)"
                    switch key {
                    case "websocket": configuration.sockJS.websocket = try bool(value, path)
                    case "cookie_needed": configuration.sockJS.cookieNeeded = try bool(value, path)
                    case "heartbeat_s": configuration.sockJS.heartbeatDelay = .seconds(Int64(try int(value, path, 1...3_600)))
                    case "disconnect_delay_s": configuration.sockJS.disconnectDelay = .seconds(Int64(try int(value, path, 1...3_600)))
                    case "response_limit": configuration.sockJS.responseLimit = try int(value, path, 1_024...(64 << 20))
                    case "max_queued_bytes": configuration.sockJS.maxQueuedBytes = try int(value, path, 1_024...(1 << 30))
                    case "max_sessions": configuration.sockJS.maxSessions = try int(value, path, 1...10_000_000)
                    case "max_sessions_per_address": configuration.sockJS.maxSessionsPerAddress = try int(value, path, 1...10_000_000)
                    default:
                        let url = try string(value, path)
                        guard url.hasPrefix("/") || url.hasPrefix("http://") || url.hasPrefix("https://") else {
                            throw fail(value, path, "expected an absolute path or an http(s) URL, got \"\(url)\"")
                        }
                        configuration.sockJS.sockjsURL = url
                    }
                }
            case "api_keys":
                guard let mapping = node.mapping else { throw fail(node, "api_keys", "expected a mapping of key names to secrets") }
                for (keyNode, value) in mapping {
                    let name = keyNode.string ?? ""
                    let secret = try apiKeySecret(value, name: name, roles: &configuration.apiKeyRoles)
                    guard secret.utf8.count >= 8 else { throw fail(value, "api_keys.\(name)", "expected a secret of at least 8 characters") }
                    configuration.apiKeys[name] = secret
                }
            case "access":
                for (who, rulesNode) in try entries(node, "access", allowed: ["anonymous", "api_key", "authenticated"]) {
                    let path: WritableKeyPath<AccessPolicy, AccessPolicy.Rules> =
                        who == "anonymous" ? \.anonymous : who == "api_key" ? \.apiKey : \.authenticated
                    var rules = policy[keyPath: path]
                    for (action, value) in try entries(rulesNode, "access.\(who)", allowed: ["subscribe", "send"]) {
                        let list = try globs(value, "access.\(who).\(action)")
                        if action == "subscribe" { rules.subscribe = list } else { rules.send = list }
                    }
                    policy[keyPath: path] = rules
                }
            case "auth":
                for (_, jwtNode) in try entries(node, "auth", allowed: ["jwt"]) {
                    try applyJWT(jwtNode, to: &configuration.jwt)
                }
            case "hooks":
                try applyHooks(node, to: &configuration.hooks)
            case "log":
                for (key, value) in try entries(node, "log", allowed: ["level", "format"]) {
                    let path = "log.\(key)"
                    let text = try string(value, path)
                    if key == "level" {
                        configuration.logLevel = try ConfigurationLoader.logLevel(text, file: file, line: value.mark?.line, key: path)
                    } else {
                        configuration.logFormat = try ConfigurationLoader.logFormat(text, file: file, line: value.mark?.line, key: path)
                    }
                }
            case "metrics":
                for (key, value) in try entries(node, "metrics", allowed: ["enabled", "access"]) {
                    let path = "metrics.\(key)"
                    if key == "enabled" {
                        configuration.metrics.enabled = try bool(value, path)
                        continue
                    }
                    let text = try string(value, path)
                    guard let access = MetricsSettings.Access(rawValue: text) else {
                        throw fail(value, path, "expected loopback, api_key or open, got \"\(text)\"")
                    }
                    configuration.metrics.access = access
                    metricsAccessNode = value
                }
            case "channels":
                configuration.channels = try channelRules(node)
            case "tls":
                configuration.tls = try tlsFiles(node)
            case "origins":
                configuration.origins = try originPolicy(node)
            default:
                configuration.conformance = try bool(node, "conformance")
            }
        }
        configuration.accessPolicy = policy
        try applyTLSPort(tlsPort, to: &configuration)
        if configuration.metrics.enabled, configuration.metrics.access == .apiKey, configuration.apiKeys.isEmpty {
            throw fail(metricsAccessNode, "metrics.access", "api_key needs at least one key under api_keys")
        }
    }
}

// MARK: TLS and origins

extension Reader {
    /// `tls.cert_file` and `tls.key_file`, both required, relative paths taken from the
    /// configuration file's folder; both files are read now so that `--check-config` and a
    /// SIGHUP reload report a bad file before anything listens with it.
    fileprivate func tlsFiles(_ node: Node) throws(ConfigurationError) -> TLSCertificateFiles {
        var paths: [String: (path: String, line: Int?)] = [:]
        for (key, value) in try entries(node, "tls", allowed: ["cert_file", "key_file"]) {
            let path = try string(value, "tls.\(key)")
            guard !path.isEmpty else { throw fail(value, "tls.\(key)", "expected the path of a PEM file, got an empty string") }
            paths[key] = (resolve(path), value.mark?.line)
        }
        guard let certificate = paths["cert_file"] else {
            throw fail(node, "tls.cert_file", "expected a PEM certificate chain file; tls.key_file is set without it")
        }
        guard let key = paths["key_file"] else {
            throw fail(node, "tls.key_file", "expected a PEM private key file; tls.cert_file is set without it")
        }
        var files = TLSCertificateFiles(certificateFile: certificate.path, privateKeyFile: key.path)
        files.source = file
        files.certificateLine = certificate.line
        files.privateKeyLine = key.line
        _ = try files.makeContext()
        return files
    }

    /// A relative path is taken from the folder of the configuration file.
    private func resolve(_ path: String) -> String {
        guard !path.hasPrefix("/"), let slash = file.lastIndex(of: "/") else { return path }
        return String(file[...slash]) + path
    }

    /// `origins.allowed`: a list of `scheme://host[:port]`, `"*"` or `"null"`.
    fileprivate func originPolicy(_ node: Node) throws(ConfigurationError) -> OriginPolicy {
        var entriesFound: [String] = []
        for (_, value) in try entries(node, "origins", allowed: ["allowed"]) {
            guard let sequence = value.sequence else {
                throw fail(value, "origins.allowed", "expected a list of origins like \"https://app.example:8443\", \"*\" or \"null\"")
            }
            for item in sequence {
                let entry = try string(item, "origins.allowed")
                do {
                    _ = try OriginPolicy(allowing: [entry])
                } catch {
                    throw fail(
                        item, "origins.allowed",
                        "expected an origin scheme://host[:port] (no path), \"*\" or \"null\", got \"\(entry)\""
                    )
                }
                entriesFound.append(entry)
            }
        }
        do {
            return try OriginPolicy(allowing: entriesFound)
        } catch {
            throw fail(node, "origins.allowed", "expected origins, got \"\(error.entry)\"")
        }
    }

    /// `listen.stomp_tls_port` means something only with `tls`, and must differ from the
    /// other ports.
    fileprivate func applyTLSPort(_ port: (value: Int, node: Node)?, to configuration: inout GatewayConfiguration) throws(ConfigurationError) {
        guard let port else { return }
        if port.value != 0 {
            guard configuration.tls != nil else {
                throw fail(port.node, "listen.stomp_tls_port", "expected 0 without a tls section (tls.cert_file, tls.key_file), got \(port.value)")
            }
            guard port.value != configuration.port, port.value != configuration.stompPort else {
                throw fail(port.node, "listen.stomp_tls_port", "expected a port other than listen.port and listen.stomp_port, got \(port.value)")
            }
        }
        configuration.stompTLSPort = port.value
    }
}

// MARK: API key roles

extension Reader {
    /// The roles an API key may have.
    static let apiKeyRoles: Set<String> = ["admin"]

    /// An `api_keys` entry: a secret, or `{secret: "...", roles: [admin]}`. Records the
    /// roles of the mapping form in `roles` and returns the secret.
    fileprivate func apiKeySecret(_ node: Node, name: String, roles: inout [String: Set<String>]) throws(ConfigurationError) -> String {
        let key = "api_keys.\(name)"
        guard node.mapping != nil else { return try string(node, key) }
        var secret: String?
        var granted: Set<String> = []
        for (field, value) in try entries(node, key, allowed: ["secret", "roles"]) {
            if field == "secret" {
                secret = try string(value, "\(key).secret")
                continue
            }
            guard let sequence = value.sequence else { throw fail(value, "\(key).roles", "expected a list of roles like [admin]") }
            for item in sequence {
                let role = try string(item, "\(key).roles")
                guard Self.apiKeyRoles.contains(role) else {
                    throw fail(item, "\(key).roles", "expected one of \(Self.apiKeyRoles.sorted().joined(separator: ", ")), got \"\(role)\"")
                }
                granted.insert(role)
            }
        }
        guard let secret else { throw fail(node, "\(key).secret", "expected the key's secret beside its roles") }
        roles[name] = granted.isEmpty ? nil : granted
        return secret
    }
}

// MARK: Channels

extension Reader {
    /// `channels:`: a mapping of destination globs that can match a `/topic/` destination to
    /// `{history, history_ttl_s, presence, join_leave}`, in file order (the first matching
    /// glob wins). `join_leave: true` needs `presence: true`. (A glob listed twice is refused
    /// by the YAML parser as a duplicate key.)
    fileprivate func channelRules(_ node: Node) throws(ConfigurationError) -> ChannelRules {
        guard let mapping = node.mapping else {
            throw fail(node, "channels", "expected a mapping of destination globs like \"/topic/shouts\" to {history, history_ttl_s, presence, join_leave}")
        }
        guard mapping.count <= ChannelRules.maxRules else {
            throw fail(node, "channels", "expected at most \(ChannelRules.maxRules) entries, got \(mapping.count)")
        }
        var rules: [ChannelRules.Rule] = []
        for (keyNode, value) in mapping {
            guard let glob = keyNode.string else { throw fail(keyNode, "channels", "keys must be destination globs like \"/topic/shouts\"") }
            let key = "channels[\"\(glob.prefix(64))\"]"
            guard AccessPolicy.isValidGlob(glob) else {
                throw fail(keyNode, key, "expected a destination glob like \"/topic/shouts\" or \"/topic/chat.*\" (* within a segment, ** as a whole segment)")
            }
            guard ChannelRules.canMatchTopic(glob) else {
                throw fail(keyNode, key, "history and presence are kept for topics only: the glob must be able to match a /topic/ destination")
            }
            guard !glob.split(whereSeparator: { $0 == "/" || $0 == "." }).contains("#") else {
                throw fail(keyNode, key, "# is a SUBSCRIBE wildcard and never names a topic: use * (one segment, dots included) or ** here")
            }
            var policy = ChannelPolicy.none
            var joinLeaveNode: Node?
            for (field, fieldValue) in try entries(value, key, allowed: ["history", "history_ttl_s", "presence", "join_leave"]) {
                let path = "\(key).\(field)"
                switch field {
                case "history": policy.history = try int(fieldValue, path, 0...ChannelPolicy.maxHistory)
                case "history_ttl_s": policy.historyTTLSeconds = try int(fieldValue, path, 0...ChannelRules.maxHistoryTTLSeconds)
                case "presence": policy.presence = try bool(fieldValue, path)
                default:
                    policy.joinLeave = try bool(fieldValue, path)
                    joinLeaveNode = fieldValue
                }
            }
            if policy.joinLeave && !policy.presence {
                throw fail(joinLeaveNode, "\(key).join_leave", "join_leave: true needs presence: true (join and leave events come from the presence list)")
            }
            rules.append(ChannelRules.Rule(glob: glob, policy: policy))
        }
        return ChannelRules(rules)
    }
}
