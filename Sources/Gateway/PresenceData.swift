/// The presence `data` of a principal (`Principal.presence`): what every subscriber of a
/// presence destination sees of a user, in the presence API and in join/leave bodies. It
/// comes from the connect hook's `presence` field or a verified token's `presence` claim —
/// never from the hook's `data`, which may hold what only the hooks should see.
enum PresenceData {
    /// Largest presence data, in bytes of compact JSON.
    static let maxBytes = 1_024

    /// What a connect hook or a token says: a JSON object becomes its compact JSON text;
    /// absent or null is `.some(nil)` (no data); anything else, or an object longer than
    /// `maxBytes` once written, is nil (malformed).
    static func text(of value: JSONValue?) -> String?? {
        guard let value, !value.isNull else { return .some(nil) }
        guard case .object = value else { return nil }
        let text = value.encoded
        guard text.utf8.count <= maxBytes else { return nil }
        return .some(text)
    }

    /// How a refusal phrases the rule, after "the connect hook's presence" or "the token's
    /// presence claim".
    static let requirement = "must be a JSON object of at most \(maxBytes) bytes, or null"
}
