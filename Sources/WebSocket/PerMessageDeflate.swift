/// What this server is willing to do for RFC 7692 permessage-deflate.
public struct PerMessageDeflateConfiguration: Sendable, Hashable {
    /// Whether offers are accepted at all.
    public var isEnabled: Bool = true
    /// Always compress each message on its own, even when the client did not ask for it
    /// (RFC 7692 §7.1.1.1 lets the server add `server_no_context_takeover`). It costs some ratio
    /// but lets one compressed broadcast be shared by every such connection (see
    /// `WebSocketOutboundMessage`) and needs no per-connection compressor between messages.
    public var serverNoContextTakeover: Bool = false
    /// Ask clients to compress each message on its own (`client_no_context_takeover`).
    public var clientNoContextTakeover: Bool = false
    /// The largest LZ77 window the server compresses with (8...15).
    public var serverMaxWindowBits: Int = 15
    /// When set, limit the client's window to this (only where the client offered
    /// `client_max_window_bits`, as §7.1.2.2 requires).
    public var clientMaxWindowBits: Int? = nil
    /// Messages shorter than this go out uncompressed: deflating a few bytes costs CPU and
    /// usually makes them longer.
    public var compressionThreshold: Int = 64
    /// zlib compression level (1 fastest ... 9 smallest).
    public var compressionLevel: Int32 = 6
    /// zlib memLevel (1...9): memory per compressor against speed.
    public var memoryLevel: Int32 = 8

    public init() {}
}

/// The permessage-deflate parameters agreed for one connection (RFC 7692 §7.1).
public struct PerMessageDeflateParameters: Sendable, Hashable {
    public var serverNoContextTakeover: Bool
    public var clientNoContextTakeover: Bool
    /// The window the server compresses with.
    public var serverMaxWindowBits: Int
    /// The window the client promised not to exceed (15 when unrestricted).
    public var clientMaxWindowBits: Int
    /// The `Sec-WebSocket-Extensions` value of the 101 response.
    public var responseHeaderValue: String

    /// The key under which a compressed broadcast can be shared (see `WebSocketOutboundMessage`):
    /// connections whose server side resets per message and uses the same window produce
    /// byte-identical compressed payloads. `nil` when the server keeps context.
    public var sharingWindowBits: Int? {
        serverNoContextTakeover ? serverMaxWindowBits : nil
    }
}

/// RFC 7692 §5 and §7.1 negotiation: pick the first acceptable offer, decline the rest.
public enum PerMessageDeflateNegotiation {
    public static let extensionName = "permessage-deflate"

    /// Chooses parameters from a client's offers, or `nil` to run without compression.
    ///
    /// An invalid offer (unknown or repeated parameter, bad window value) is declined — the
    /// next offer is tried — rather than failing the handshake, since the client listed
    /// alternatives precisely so that the server can pick one.
    public static func negotiate(
        offers: [WebSocketExtensionOffer],
        configuration: PerMessageDeflateConfiguration
    ) -> PerMessageDeflateParameters? {
        guard configuration.isEnabled else { return nil }
        for offer in offers where offer.name.lowercased() == extensionName {
            if let accepted = accept(offer, configuration: configuration) { return accepted }
        }
        return nil
    }

    private static func accept(
        _ offer: WebSocketExtensionOffer,
        configuration: PerMessageDeflateConfiguration
    ) -> PerMessageDeflateParameters? {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var offeredServerBits: Int?
        var offeredClientBits: Int??  // nil: absent; .some(nil): present without a value
        var seen = Set<String>()
        for parameter in offer.parameters {
            let name = parameter.name.lowercased()
            guard seen.insert(name).inserted else { return nil }
            switch name {
            case "server_no_context_takeover":
                guard parameter.value == nil else { return nil }
                serverNoContextTakeover = true
            case "client_no_context_takeover":
                guard parameter.value == nil else { return nil }
                clientNoContextTakeover = true
            case "server_max_window_bits":
                guard let value = parameter.value, let bits = windowBits(value) else { return nil }
                offeredServerBits = bits
            case "client_max_window_bits":
                if let value = parameter.value {
                    guard let bits = windowBits(value) else { return nil }
                    offeredClientBits = .some(bits)
                } else {
                    offeredClientBits = .some(nil)
                }
            default:
                return nil
            }
        }

        let serverLimit = min(max(configuration.serverMaxWindowBits, 8), 15)
        let serverBits = min(offeredServerBits ?? 15, serverLimit)
        serverNoContextTakeover = serverNoContextTakeover || configuration.serverNoContextTakeover
        clientNoContextTakeover = clientNoContextTakeover || configuration.clientNoContextTakeover

        var response = [extensionName]
        if serverNoContextTakeover { response.append("server_no_context_takeover") }
        if clientNoContextTakeover { response.append("client_no_context_takeover") }
        if offeredServerBits != nil {
            response.append("server_max_window_bits=\(serverBits)")
        }
        var clientBits = 15
        if let offered = offeredClientBits {
            clientBits = offered ?? 15
            if let wanted = configuration.clientMaxWindowBits {
                clientBits = min(clientBits, min(max(wanted, 8), 15))
                response.append("client_max_window_bits=\(clientBits)")
            }
        }
        return PerMessageDeflateParameters(
            serverNoContextTakeover: serverNoContextTakeover,
            clientNoContextTakeover: clientNoContextTakeover,
            serverMaxWindowBits: serverBits,
            clientMaxWindowBits: clientBits,
            responseHeaderValue: response.joined(separator: "; ")
        )
    }

    /// 8...15 as plain decimal digits without a leading zero (RFC 7692 §7.1.2).
    private static func windowBits(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), !text.hasPrefix("0"),
            text.utf8.count <= 2, let value = Int(text), (8...15).contains(value)
        else { return nil }
        return value
    }
}
