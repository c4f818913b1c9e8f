/// A STOMP protocol version, negotiated at CONNECT (STOMP 1.2 "Protocol Negotiation").
public enum StompVersion: String, Sendable, Hashable, Comparable, CaseIterable {
    case v1_0 = "1.0"
    case v1_1 = "1.1"
    case v1_2 = "1.2"

    private var rank: Int {
        switch self {
        case .v1_0: return 0
        case .v1_1: return 1
        case .v1_2: return 2
        }
    }

    public static func < (lhs: StompVersion, rhs: StompVersion) -> Bool { lhs.rank < rhs.rank }

    /// 1.0 has no header escaping; 1.1 escapes `\n`, `\c`, `\\`; 1.2 adds `\r`.
    public var escapesHeaders: Bool { self != .v1_0 }
    public var escapesCarriageReturn: Bool { self == .v1_2 }

    /// The highest version both sides speak, from a CONNECT's `accept-version` (absent means
    /// 1.0, STOMP 1.1 "Protocol Negotiation").
    public static func negotiate(acceptVersion: String?) -> StompVersion? {
        guard let acceptVersion else { return .v1_0 }
        let offered = acceptVersion.split(separator: ",").compactMap { StompVersion(rawValue: $0.trimmingCharacters(in: " ")) }
        return offered.max()
    }
}

extension Substring {
    func trimmingCharacters(in set: Character) -> String {
        var slice = self
        while slice.first == set { slice.removeFirst() }
        while slice.last == set { slice.removeLast() }
        return String(slice)
    }
}
