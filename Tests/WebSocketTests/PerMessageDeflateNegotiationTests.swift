import Testing
@testable import WebSocket

@Suite struct PerMessageDeflateNegotiationTests {
    private func negotiate(_ header: String, _ configure: (inout PerMessageDeflateConfiguration) -> Void = { _ in }) -> PerMessageDeflateParameters? {
        var configuration = PerMessageDeflateConfiguration()
        configure(&configuration)
        guard let offers = WebSocketExtensionOffer.parse([header]) else { return nil }
        return PerMessageDeflateNegotiation.negotiate(offers: offers, configuration: configuration)
    }

    @Test func parsesOffersWithQuotedValues() throws {
        let offers = try #require(WebSocketExtensionOffer.parse([
            #"permessage-deflate; client_max_window_bits; server_max_window_bits="10", x-foo"#
        ]))
        #expect(offers.count == 2)
        #expect(offers[0].parameters.map(\.name) == ["client_max_window_bits", "server_max_window_bits"])
        #expect(offers[0].parameters[1].value == "10")
        #expect(offers[1].name == "x-foo")
        #expect(WebSocketExtensionOffer.parse(["permessage-deflate; ="]) == nil)
    }

    @Test func acceptsAPlainOffer() throws {
        let accepted = try #require(negotiate("permessage-deflate"))
        #expect(accepted.responseHeaderValue == "permessage-deflate")
        #expect(!accepted.serverNoContextTakeover)
        #expect(accepted.serverMaxWindowBits == 15)
        #expect(accepted.sharingWindowBits == nil)
    }

    @Test func honoursNoContextTakeover() throws {
        let accepted = try #require(negotiate("permessage-deflate; server_no_context_takeover; client_no_context_takeover"))
        #expect(accepted.serverNoContextTakeover)
        #expect(accepted.clientNoContextTakeover)
        #expect(accepted.responseHeaderValue == "permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        #expect(accepted.sharingWindowBits == 15)
        // The server may impose server_no_context_takeover on its own (RFC 7692 §7.1.1.1).
        let imposed = try #require(negotiate("permessage-deflate") { $0.serverNoContextTakeover = true })
        #expect(imposed.responseHeaderValue == "permessage-deflate; server_no_context_takeover")
    }

    @Test func negotiatesWindowBits() throws {
        let eight = try #require(negotiate("permessage-deflate; server_max_window_bits=8"))
        #expect(eight.serverMaxWindowBits == 8)
        #expect(eight.responseHeaderValue == "permessage-deflate; server_max_window_bits=8")
        let capped = try #require(negotiate("permessage-deflate; server_max_window_bits=15") { $0.serverMaxWindowBits = 12 })
        #expect(capped.responseHeaderValue == "permessage-deflate; server_max_window_bits=12")
        let client = try #require(negotiate("permessage-deflate; client_max_window_bits=12") { $0.clientMaxWindowBits = 10 })
        #expect(client.responseHeaderValue == "permessage-deflate; client_max_window_bits=10")
        #expect(client.clientMaxWindowBits == 10)
        // Without the client's parameter the server must not send client_max_window_bits.
        let notOffered = try #require(negotiate("permessage-deflate") { $0.clientMaxWindowBits = 10 })
        #expect(notOffered.responseHeaderValue == "permessage-deflate")
    }

    @Test(arguments: [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=010",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=abc",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; unknown_parameter",
        "x-webkit-deflate-frame",
    ])
    func declinesInvalidOffers(header: String) {
        #expect(negotiate(header) == nil)
    }

    @Test func picksTheFirstAcceptableOffer() throws {
        let accepted = try #require(negotiate(
            "permessage-deflate; server_max_window_bits=99, permessage-deflate; server_max_window_bits=9, permessage-deflate"
        ))
        #expect(accepted.serverMaxWindowBits == 9)
    }

    @Test func staysOffWhenDisabled() {
        #expect(negotiate("permessage-deflate") { $0.isEnabled = false } == nil)
    }
}
