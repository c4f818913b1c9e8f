import Fallback
import Foundation

/// Just enough JSON for the API's small answers and the authorization hooks' bodies, with
/// correct string escaping. Objects keep their members' order when written; when read
/// (`Decodable`, from a hook's answer or a token's claims) members come sorted by name.
enum JSONValue: ExpressibleByStringLiteral, Sendable, Equatable {
    case null
    case string(String)
    case number(Int)
    /// A number that is not an integer (or does not fit one).
    case double(Double)
    case bool(Bool)
    case array([JSONValue])
    case object([(String, JSONValue)])
    /// JSON text written as it is: only text this gateway wrote itself with `encoded` (a
    /// principal's presence data, `PresenceData`), never client text. Never read.
    case raw(String)

    init(stringLiteral value: String) { self = .string(value) }

    static func object(_ dictionary: [(key: String, value: JSONValue)]) -> JSONValue {
        .object(dictionary.map { ($0.key, $0.value) })
    }

    var encoded: String {
        switch self {
        case .null: return "null"
        case .string(let text): return Self.quote(text)
        case .number(let value): return String(value)
        case .double(let value): return value.isFinite ? String(value) : "null"
        case .bool(let value): return value ? "true" : "false"
        case .array(let values): return "[" + values.map(\.encoded).joined(separator: ",") + "]"
        case .object(let members):
            return "{" + members.map { Self.quote($0.0) + ":" + $0.1.encoded }.joined(separator: ",") + "}"
        case .raw(let text): return text
        }
    }

    /// JSON string quoting is SockJS's (a superset of what JSON requires), kept in one place.
    static func quote(_ text: String) -> String {
        SockJSJSON.quote(text)
    }

    /// The member `name` of an object (the first of that name); nil for anything else.
    subscript(name: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.0 == name }?.1
    }

    var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    /// An integer or a number with a fractional part, as a Double.
    var numberValue: Double? {
        switch self {
        case .number(let value): return Double(value)
        case .double(let value): return value
        default: return nil
        }
    }

    var isNull: Bool { self == .null }

    static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.string(let a), .string(let b)): return a == b
        case (.number(let a), .number(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.bool(let a), .bool(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)): return a.count == b.count && zip(a, b).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
        case (.raw(let a), .raw(let b)): return a == b
        default: return false
        }
    }
}

extension JSONValue: Decodable {
    private struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    init(from decoder: any Decoder) throws {
        if let object = try? decoder.container(keyedBy: Key.self) {
            var members: [(String, JSONValue)] = []
            for key in object.allKeys.sorted(by: { $0.stringValue < $1.stringValue }) {
                members.append((key.stringValue, try object.decode(JSONValue.self, forKey: key)))
            }
            self = .object(members)
            return
        }
        if var array = try? decoder.unkeyedContainer() {
            var values: [JSONValue] = []
            while !array.isAtEnd { values.append(try array.decode(JSONValue.self)) }
            self = .array(values)
            return
        }
        let single = try decoder.singleValueContainer()
        if single.decodeNil() {
            self = .null
        } else if let value = try? single.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? single.decode(Int.self) {
            self = .number(value)
        } else if let value = try? single.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try single.decode(String.self))
        }
    }
}

extension JSONValue: Encodable {
    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .string(let text): try container.encode(text)
        case .number(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        case .array(let values): try container.encode(values)
        case .object(let members):
            var dictionary: [String: JSONValue] = [:]
            for (name, value) in members where dictionary[name] == nil { dictionary[name] = value }
            try container.encode(dictionary)
        case .raw(let text):
            // Written by `encoded`, so it reads back; null if it somehow does not.
            let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
            try container.encode(value ?? .null)
        }
    }
}
