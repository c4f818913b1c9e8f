/// Heart-beat negotiation (STOMP 1.2 "Heart-beating"), as a pure function of the client's
/// CONNECT header and the server's settings.
public enum StompHeartbeat {
    /// The longest interval Perigee schedules, in milliseconds (one day). A client may offer
    /// any 64-bit value; larger ones mean "practically never" and are clamped here, so that no
    /// client number reaches timer arithmetic unchecked (issue 7, fault 1).
    public static let maxMilliseconds = 86_400_000

    /// What both sides agreed, in milliseconds; 0 means that direction is off.
    public struct Agreement: Sendable, Hashable {
        /// How often the server sends a beat when it has nothing else to send.
        public var serverSends: Int
        /// How often the server expects something from the client.
        public var serverExpects: Int
    }

    /// Negotiates from a CONNECT `heart-beat` header (`cx,cy`: the client can send every `cx`
    /// ms and wants to receive every `cy` ms) and the server's own `sx,sy`.
    ///
    /// - Throws: `StompError.invalidHeader("heart-beat", …)` unless the header is two
    ///   non-negative decimal integers separated by a comma.
    public static func negotiate(header: String?, serverSend: Int, serverReceive: Int) throws(StompError) -> Agreement {
        guard let header else { return Agreement(serverSends: 0, serverExpects: 0) }
        let parts = header.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count == 2, let clientSend = parse(parts[0]), let clientReceive = parse(parts[1]) else {
            throw .invalidHeader("heart-beat", value: header)
        }
        func agree(_ ours: Int, _ theirs: Int) -> Int {
            guard ours > 0, theirs > 0 else { return 0 }
            return min(max(ours, theirs), maxMilliseconds)
        }
        return Agreement(serverSends: agree(serverSend, clientReceive), serverExpects: agree(serverReceive, clientSend))
    }

    /// A non-negative decimal, saturated at `maxMilliseconds`; nil when it is not one.
    private static func parse(_ text: Substring) -> Int? {
        let digits = text.utf8.drop { $0 == UInt8(ascii: " ") }.reversed().drop { $0 == UInt8(ascii: " ") }.reversed()
        guard !digits.isEmpty else { return nil }
        var value = 0
        for byte in digits {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            value = min(value * 10 + Int(byte - UInt8(ascii: "0")), maxMilliseconds + 1)
        }
        return value
    }
}
