import Hub

/// What may reach a log line from values that carry secrets.
///
/// The types that hold secrets — `GatewayConfiguration` (API key secrets), `TokenSettings`
/// (the HS256 secret), `ClientContext` (cookies, `?token=`), `Credential` (a passcode or JWT)
/// and, in the hub, `StompHeaders` (passcode, Authorization) — describe themselves with the
/// secrets replaced by `redacted`, so that interpolating or dumping one into a log line
/// (`"\(configuration)"`, `dump`) cannot leak them. Request URLs are logged by path only
/// (`GatewayRouter.path(of:)`), hook URLs by `url(_:)`.
enum LogRedaction {
    /// What a secret is written as.
    static let redacted = "<redacted>"

    /// `url` without user info, query or fragment: `https://user:pw@host:8443/hook?key=k` is
    /// written `https://host:8443/hook`. Text that is not `scheme://…` gives `redacted`.
    static func url(_ url: String) -> String {
        guard let separator = url.range(of: "://") else { return redacted }
        let scheme = url[..<separator.lowerBound]
        var rest = url[separator.upperBound...]
        if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
        let authorityEnd = rest.firstIndex(of: "/") ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return String(scheme) + "://" + String(authority) + String(rest[authorityEnd...])
    }
}

extension GatewayConfiguration: CustomReflectable {
    /// The settings without secrets: API keys by name only, the JWT settings redacted.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "host": host, "port": port, "stompPort": stompPort, "stompTLSPort": stompTLSPort,
                "tls": tls.map { "\($0.certificateFile), \($0.privateKeyFile)" } as Any,
                "webRoot": webRoot as Any, "conformance": conformance,
                "apiKeys": apiKeys.keys.sorted().map { "\($0): \(LogRedaction.redacted)" },
                "jwt": jwt, "hooks": hooks, "logLevel": logLevel, "logFormat": logFormat,
            ],
            displayStyle: .struct
        )
    }
}

extension TokenSettings: CustomReflectable {
    var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "hs256Secret": hs256Secret.map { _ in LogRedaction.redacted } as Any,
                "publicKey": publicKeyPEM.map { _ in "PEM" } as Any,
                "issuer": issuer as Any, "audience": audience as Any, "leewaySeconds": leewaySeconds,
            ],
            displayStyle: .struct
        )
    }
}

extension HookClient.Settings: CustomReflectable {
    var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "connect": connect.map(LogRedaction.url) as Any, "subscribe": subscribe.map(LogRedaction.url) as Any,
                "send": send.map(LogRedaction.url) as Any, "timeoutMilliseconds": timeoutMilliseconds, "failOpen": failOpen,
            ],
            displayStyle: .struct
        )
    }
}

extension ClientContext: CustomReflectable {
    /// Header names only (cookies are credentials), and no `?token=`.
    var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "transport": transport, "tls": tls, "address": address?.ipAddress as Any,
                "httpHeaders": httpHeaders.map { "\($0.0): \(LogRedaction.redacted)" },
                "queryToken": queryToken.map { _ in LogRedaction.redacted } as Any,
            ],
            displayStyle: .struct
        )
    }
}

extension Credential: CustomReflectable {
    var customMirror: Mirror {
        switch self {
        case .none: return Mirror(self, children: [:], displayStyle: .enum)
        case .apiKey(let name): return Mirror(self, children: ["apiKey": name], displayStyle: .enum)
        case .token: return Mirror(self, children: ["token": LogRedaction.redacted], displayStyle: .enum)
        case .refused(let reason): return Mirror(self, children: ["refused": reason], displayStyle: .enum)
        }
    }
}
