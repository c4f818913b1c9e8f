import NIOCore

/// What a reloaded configuration changes against the running one, by the names of the
/// configuration file's sections, for the reload's log lines (names only: never a value, so
/// that no secret reaches the log).
///
/// Settings a running server cannot take (listeners, TLS on or off, SockJS, compression,
/// conformance services, memory trimming, turning metrics on or off, the log level and
/// format, the drain timeout) are listed in `needRestart`, and `effective`
/// keeps the running values for them; everything else is applied (`channels` and
/// `limits.max_history_bytes` at once, through `Hub.reconfigure`).
struct ConfigurationChanges {
    /// Changed settings that the reload applies.
    private(set) var applied: [String] = []
    /// Changed settings that need a restart; their running values stay.
    private(set) var needRestart: [String] = []
    /// The reloaded configuration with the running values of the settings that need a restart.
    private(set) var effective: GatewayConfiguration

    init(from running: GatewayConfiguration, to reloaded: GatewayConfiguration) {
        effective = reloaded
        // Needs a restart: the running value stays.
        keep(\.host, "listen.host", running)
        keep(\.port, "listen.port", running)
        keep(\.stompPort, "listen.stomp_port", running)
        keep(\.stompTLSPort, "listen.stomp_tls_port", running)
        if (running.tls == nil) != (reloaded.tls == nil) {
            needRestart.append(running.tls == nil ? "tls (turning it on)" : "tls (turning it off)")
            effective.tls = running.tls
        }
        keep(\.conformance, "--conformance", running)
        keep(\.memoryTrimInterval, "performance.memory_trim_interval_s", running)
        keep(\.stompWebSocket.deflate, "websocket.permessage_deflate", running)
        keep(\.metrics.enabled, "metrics.enabled", running)
        keep(\.logLevel, "log.level", running)
        keep(\.logFormat, "log.format", running)
        keep(\.drainTimeout, "drain.timeout_s", running)
        if Self.differ(running.sockJS, reloaded.sockJS) {
            needRestart.append("sockjs")
            effective.sockJS = running.sockJS
        }
        // Applied.
        note(running.accessPolicy != effective.accessPolicy, "access")
        note(running.apiKeys != effective.apiKeys || running.apiKeyRoles != effective.apiKeyRoles, "api_keys")
        note(running.jwt != effective.jwt, "auth.jwt")
        note(running.hooks != effective.hooks, "hooks")
        note(running.origins != effective.origins, "origins")
        note(running.metrics.access != effective.metrics.access, "metrics.access (new HTTP connections)")
        note(running.webRoot != effective.webRoot, "static.root")
        // The hub takes these at once (`Hub.reconfigure`): topics are asked their policy again.
        note(running.channels != effective.channels, "channels")
        note(running.hub.maxHistoryBytes != effective.hub.maxHistoryBytes, "limits.max_history_bytes")
        note(
            Self.differ(running.hub, effective.hub, ignoring: ["gatekeeper", "channelPolicy", "maxHistoryBytes"]),
            "limits, timeouts, heartbeat, performance (new STOMP sessions)"
        )
        note(Self.differ(running.stompWebSocket, effective.stompWebSocket), "websocket, limits.max_message_size (new WebSocket connections)")
        let timeouts: (GatewayConfiguration) -> [TimeAmount] = {
            [$0.httpHeadTimeout, $0.httpBodyTimeout, $0.httpKeepAliveTimeout, $0.lingerTimeout]
        }
        note(timeouts(running) != timeouts(effective), "timeouts.http_* (new HTTP connections)")
        if running.tls != nil, effective.tls != nil {
            // Read again whether or not the paths changed: renewing a certificate in place is
            // the usual case.
            applied.append("tls (certificate and key read again)")
        }
    }

    private mutating func keep<Value: Equatable>(_ path: WritableKeyPath<GatewayConfiguration, Value>, _ name: String, _ running: GatewayConfiguration) {
        guard running[keyPath: path] != effective[keyPath: path] else { return }
        needRestart.append(name)
        effective[keyPath: path] = running[keyPath: path]
    }

    private mutating func note(_ changed: Bool, _ name: String) {
        if changed { applied.append(name) }
    }

    /// Whether two settings structs differ in a stored property (compared by their printed
    /// values: the limit structs hold numbers, flags and time amounts only), `ignoring` some.
    private static func differ<Value>(_ a: Value, _ b: Value, ignoring: Set<String> = []) -> Bool {
        let left = Mirror(reflecting: a).children
        let right = Mirror(reflecting: b).children
        for (l, r) in zip(left, right) where !ignoring.contains(l.label ?? "") {
            if String(describing: l.value) != String(describing: r.value) { return true }
        }
        return false
    }
}
