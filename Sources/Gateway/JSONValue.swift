import Fallback

/// Just enough JSON to write the API's small answers, with correct string escaping.
enum JSONValue: ExpressibleByStringLiteral {
    case string(String)
    case number(Int)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])

    init(stringLiteral value: String) { self = .string(value) }

    static func object(_ dictionary: [(key: String, value: JSONValue)]) -> JSONValue {
        .object(dictionary.map { ($0.key, $0.value) })
    }

    var encoded: String {
        switch self {
        case .string(let text): return Self.quote(text)
        case .number(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .array(let values): return "[" + values.map(\.encoded).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { Self.quote($0.0) + ":" + $0.1.encoded }.joined(separator: ",") + "}"
        }
    }

    /// JSON string quoting is SockJS's (a superset of what JSON requires), kept in one place.
    static func quote(_ text: String) -> String {
        SockJSJSON.quote(text)
    }
}
