import Gateway
import Hub
import NIOSSL
import Testing

/// The TLS listeners over real sockets with swift-nio-ssl's client: STOMP over TLS and HTTPS
/// serve the configured certificate, and a reload changes it for new connections only.
@Suite(.timeLimit(.minutes(1)))
struct TLSListenerTests {
    /// Trusts any server certificate: the tests compare the certificate instead.
    private static func clientContext() throws -> NIOSSLContext {
        var configuration = TLSConfiguration.makeClientConfiguration()
        configuration.certificateVerification = .none
        return try NIOSSLContext(configuration: configuration)
    }

    private func certificate(_ pem: String) throws -> NIOSSLCertificate {
        try NIOSSLCertificate(bytes: Array(pem.utf8), format: .pem)
    }

    @Test func reloadedCertificatesServeNewConnectionsWhileOpenOnesKeepReceiving() async throws {
        let folder = try TLSFixtures.makeFolder()
        let certificatePath = folder + "/cert.pem"
        let keyPath = folder + "/key.pem"
        try TLSFixtures.write(TLSFixtures.certificate, to: certificatePath)
        try TLSFixtures.write(TLSFixtures.key, to: keyPath)
        let client = try Self.clientContext()
        let first = try certificate(TLSFixtures.certificate)
        let second = try certificate(TLSFixtures.secondCertificate)
        try await withTestServer({
            $0.tls = TLSCertificateFiles(certificateFile: certificatePath, privateKeyFile: keyPath)
            $0.stompTLSPort = -1
        }) { server in
            var subscriber = try await StompTestClient.connectTLS(port: server.stompTLSPort, context: client)
            #expect(try await subscriber.peerCertificate() == first)
            try await subscriber.send(.subscribe, ["id": "0", "destination": "/topic/tls", "receipt": "r"])
            #expect(try await subscriber.next()?.command == .receipt)

            try TLSFixtures.write(TLSFixtures.secondCertificate, to: certificatePath)
            try TLSFixtures.write(TLSFixtures.secondKey, to: keyPath)
            try server.reloadCertificates()

            let publisher = try await StompTestClient.connectTLS(port: server.stompTLSPort, context: client)
            #expect(try await publisher.peerCertificate() == second)
            try await publisher.send(.send, ["destination": "/topic/tls"], body: "after the reload")
            let message = try await subscriber.next()
            #expect(message?.command == .message)
            #expect(message.map { String(buffer: $0.body) } == "after the reload")
            #expect(try await subscriber.peerCertificate() == first)

            // The HTTP port speaks HTTPS with the new pair too.
            // A keep-alive request: after `Connection: close` the server may already have closed
            // the channel, which then has no TLS handler left to ask for the certificate.
            var https = try await RawWebSocketClient.connect(port: server.httpPort, tls: client)
            let head = try await https.request("GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            #expect(head.hasPrefix("HTTP/1.1 200"))
            #expect(try await https.peerCertificate() == second)
            await https.close()
            await publisher.close()
            await subscriber.close()
        }
    }
}
