/// The headers of a STOMP frame, in wire order.
///
/// Repeated headers are kept (they are legal) but only the first occurrence counts (STOMP 1.2
/// "Repeated Header Entries"); the subscript gives that one.
public struct StompHeaders: Sendable, Hashable, Sequence, ExpressibleByDictionaryLiteral {
    public typealias Element = (name: String, value: String)

    private var entries: [(name: String, value: String)] = []

    public init() {}

    public init(dictionaryLiteral elements: (String, String)...) {
        entries = elements.map { (name: $0.0, value: $0.1) }
    }

    public init(_ elements: [(String, String)]) {
        entries = elements.map { (name: $0.0, value: $0.1) }
    }

    public var count: Int { entries.count }

    /// The first value of `name` (header names are case-sensitive in STOMP).
    public subscript(name: String) -> String? {
        entries.first { $0.name == name }?.value
    }

    /// Appends an entry; an existing entry with the same name still wins.
    public mutating func add(_ name: String, _ value: String) {
        entries.append((name: name, value: value))
    }

    /// Sets `name` to `value`, replacing every existing entry of that name.
    public mutating func set(_ name: String, _ value: String) {
        entries.removeAll { $0.name == name }
        entries.append((name: name, value: value))
    }

    public mutating func remove(_ name: String) {
        entries.removeAll { $0.name == name }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        entries.makeIterator()
    }

    public static func == (lhs: StompHeaders, rhs: StompHeaders) -> Bool {
        lhs.entries.elementsEqual(rhs.entries) { $0.name == $1.name && $0.value == $1.value }
    }

    public func hash(into hasher: inout Hasher) {
        for entry in entries {
            hasher.combine(entry.name)
            hasher.combine(entry.value)
        }
    }
}

extension StompHeaders: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// Headers whose values are credentials: never written by `description` or a mirror.
    public static let secretNames: Set<String> = ["passcode", "authorization", "token", "cookie"]

    /// `name:value` pairs in wire order, with the values of `secretNames` (any case) written
    /// `<redacted>`, so that a frame's headers can be logged or dumped without its passcode.
    public var description: String {
        "[" + redactedEntries.map { "\($0.name):\($0.value)" }.joined(separator: ", ") + "]"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, unlabeledChildren: redactedEntries.map { "\($0.name):\($0.value)" }, displayStyle: .collection)
    }

    private var redactedEntries: [(name: String, value: String)] {
        entries.map { Self.secretNames.contains($0.name.lowercased()) ? (name: $0.name, value: "<redacted>") : $0 }
    }
}
