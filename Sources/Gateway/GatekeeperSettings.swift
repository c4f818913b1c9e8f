/// What the gatekeeper decides with, as one immutable value: a reload builds a new one and
/// swaps it in whole (`Reloadable`), so that a decision never mixes old and new settings.
final class GatekeeperSettings: Sendable {
    let policy: AccessPolicy
    /// API key secrets by name. Never logged.
    let apiKeys: [String: String]
    /// Roles by API key name (`GatewayConfiguration.apiKeyRoles`).
    let apiKeyRoles: [String: Set<String>]
    /// Nil when no JWT key is configured.
    let tokens: TokenVerifier?
    /// Nil when no hook URL is configured.
    let hooks: HookClient?
    /// `hooks.send_prefixes`, parsed once.
    let sendPrefixes: [Glob]

    init(policy: AccessPolicy, apiKeys: [String: String], apiKeyRoles: [String: Set<String>] = [:], tokens: TokenVerifier?, hooks: HookClient?) {
        self.policy = policy
        self.apiKeys = apiKeys
        self.apiKeyRoles = apiKeyRoles
        self.tokens = tokens
        self.hooks = hooks
        self.sendPrefixes = (hooks?.settings.sendPrefixes ?? []).map(Glob.init)
    }

    /// Whether sessions need a `ClientContext`: only JWT (a `?token=`) and the hooks read it,
    /// so without them a connection does not copy its handshake headers.
    var describesClients: Bool { tokens != nil || hooks != nil }

    /// HTTP request headers the connect hook sees (`hooks.forward_headers`).
    var forwardedHeaders: Set<String> { hooks?.settings.forwardHeaders ?? [] }
}
