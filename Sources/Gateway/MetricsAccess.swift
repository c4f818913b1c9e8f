/// Who may read `GET /metrics` (`metrics.access`), decided from the request alone.
enum MetricsAccess {
    /// Why a scrape is refused (401 or 403 with a JSON `error`), or nil to serve it.
    /// - Parameters:
    ///   - isLoopback: the client connected from 127.0.0.0/8 or ::1.
    ///   - authorization: the request's `Authorization` header, if any.
    ///   - apiKeys: the configured API keys, by name (`api_keys`).
    static func refusal(
        _ access: MetricsSettings.Access,
        isLoopback: Bool,
        authorization: String?,
        apiKeys: [String: String]
    ) -> PublishRequest.Failure? {
        switch access {
        case .open:
            return nil
        case .loopback:
            return isLoopback ? nil : .init(status: .forbidden, message: "metrics are served to loopback clients only")
        case .apiKey:
            guard let authorization else { return .init(status: .unauthorized, message: "missing Authorization: Bearer <api key>") }
            switch Credential.bearer(authorization, apiKeys: apiKeys) {
            case .apiKey:
                return nil
            case .refused(let reason) where authorization.split(separator: " ", maxSplits: 1).first?.lowercased() != "bearer":
                return .init(status: .unauthorized, message: reason)
            default:
                return .init(status: .forbidden, message: "unknown API key")
            }
        }
    }
}
