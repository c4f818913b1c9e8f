import Gateway
import Testing

/// `tls`, `listen.stomp_tls_port` and `origins` in the configuration file: every problem is
/// named by file, line and key, and the PEM files are actually read at load time.
@Suite struct TLSConfigurationTests {
    /// A folder holding `cert.pem`, `key.pem`, `other.key`, `garbage.pem` and `perigee.yaml`.
    private struct Folder {
        let path: String

        init() throws {
            path = try TLSFixtures.makeFolder()
            try TLSFixtures.write(TLSFixtures.certificate, to: path + "/cert.pem")
            try TLSFixtures.write(TLSFixtures.key, to: path + "/key.pem")
            try TLSFixtures.write(TLSFixtures.otherKey, to: path + "/other.key")
            try TLSFixtures.write("not a certificate\n", to: path + "/garbage.pem")
        }

        var config: String { path + "/perigee.yaml" }

        func load(_ yaml: String) throws -> GatewayConfiguration {
            try TLSFixtures.write(yaml, to: config)
            return try ConfigurationLoader.load(file: config)
        }

        func error(_ yaml: String) -> ConfigurationError? {
            do {
                _ = try load(yaml)
                return nil
            } catch let error as ConfigurationError {
                return error
            } catch {
                return ConfigurationError(file: "", line: nil, key: "", problem: "unexpected \(error)")
            }
        }
    }

    @Test func loadsTheFilesRelativeToTheConfigurationFile() throws {
        let folder = try Folder()
        let configuration = try folder.load("listen:\n  stomp_tls_port: 61700\ntls:\n  cert_file: cert.pem\n  key_file: key.pem\n")
        let tls = try #require(configuration.tls)
        #expect(tls.certificateFile == folder.path + "/cert.pem")
        #expect(tls.privateKeyFile == folder.path + "/key.pem")
        #expect(tls.certificateLine == 4)
        #expect(configuration.stompTLSPort == 61700)
        #expect(throws: Never.self) { _ = try tls.makeContext() }
        let defaults = try folder.load("tls: {cert_file: cert.pem, key_file: key.pem}\n")
        #expect(defaults.stompTLSPort == 61614)
    }

    @Test func namesTheFileLineAndKeyOfEveryTLSProblem() throws {
        let folder = try Folder()
        let config = folder.config
        let missing = try #require(folder.error("tls:\n  cert_file: nowhere.pem\n  key_file: key.pem\n"))
        #expect(missing.description.hasPrefix("\(config):2: tls.cert_file: expected a readable PEM file, but \(folder.path)/nowhere.pem is missing"))

        let garbage = try #require(folder.error("tls:\n  cert_file: garbage.pem\n  key_file: key.pem\n"))
        #expect(garbage.description.hasPrefix("\(config):2: tls.cert_file: expected a PEM certificate chain in \(folder.path)/garbage.pem"))

        let badKey = try #require(folder.error("tls:\n  cert_file: cert.pem\n  key_file: garbage.pem\n"))
        #expect(badKey.description.hasPrefix("\(config):3: tls.key_file: expected a PEM private key in \(folder.path)/garbage.pem"))

        let mismatch = try #require(folder.error("tls:\n  cert_file: cert.pem\n  key_file: other.key\n"))
        #expect(mismatch.key == "tls.key_file")
        #expect(mismatch.line == 3)
        #expect(mismatch.problem.contains("does not match"))

        let keyAlone = try #require(folder.error("tls:\n  key_file: key.pem\n"))
        #expect(keyAlone.key == "tls.cert_file")
        #expect(keyAlone.line == 2)
        let certificateAlone = try #require(folder.error("tls:\n  cert_file: cert.pem\n"))
        #expect(certificateAlone.key == "tls.key_file")

        let unknown = try #require(folder.error("tls:\n  cert: cert.pem\n"))
        #expect(unknown.key == "tls.cert")
    }

    @Test func refusesBadTLSPorts() throws {
        let folder = try Folder()
        let range = try #require(folder.error("listen:\n  stomp_tls_port: 70000\n"))
        #expect(range.description == "\(folder.config):2: listen.stomp_tls_port: expected an integer in 0...65535, got \"70000\"")
        let withoutTLS = try #require(folder.error("listen:\n  stomp_tls_port: 61614\n"))
        #expect(withoutTLS.key == "listen.stomp_tls_port")
        #expect(withoutTLS.problem.contains("without a tls section"))
        let clash = try #require(folder.error("listen: {port: 9443, stomp_tls_port: 9443}\ntls: {cert_file: cert.pem, key_file: key.pem}\n"))
        #expect(clash.key == "listen.stomp_tls_port")
        #expect(try folder.load("listen:\n  stomp_tls_port: 0\n").tls == nil)
    }

    @Test func readsAndValidatesTheOriginAllowList() throws {
        let folder = try Folder()
        let configuration = try folder.load("origins:\n  allowed: [\"http://127.0.0.1:8000\", \"null\"]\n")
        #expect(configuration.origins.allows("http://127.0.0.1:8000", host: "127.0.0.1:9000"))
        #expect(configuration.origins.allowsNull)
        #expect(!configuration.origins.allowsAny)

        let bad = try #require(folder.error("origins:\n  allowed:\n    - \"*\"\n    - http://app.example/path\n"))
        #expect(bad.description == "\(folder.config):4: origins.allowed: expected an origin scheme://host[:port] (no path), \"*\" or \"null\", got \"http://app.example/path\"")
        let notAList = try #require(folder.error("origins:\n  allowed: http://a.example\n"))
        #expect(notAList.key == "origins.allowed")
    }

    @Test func aServerWithTLSBindsTheTLSPortAndKeepsItsCertificateWhenAReloadFails() async throws {
        let folder = try Folder()
        var files = try #require(try folder.load("tls: {cert_file: cert.pem, key_file: key.pem}\n").tls)
        try await withTestServer({
            $0.tls = files
            $0.stompTLSPort = -1
        }) { server in
            #expect(server.usesTLS)
            #expect(server.stompTLSPort != 0)
            #expect(server.stompTLSPort != server.stompPort)
            try server.reloadCertificates()

            try TLSFixtures.write("broken\n", to: folder.path + "/cert.pem")
            #expect(throws: ConfigurationError.self) { try server.reloadCertificates() }
            files.certificateFile = folder.path + "/missing.pem"
            var reloaded = GatewayConfiguration()
            reloaded.tls = files
            let error = await #expect(throws: ConfigurationError.self) { try await server.reload(reloaded) }
            #expect(error?.key == "tls.cert_file")
            // Still accepting: a refused reload leaves the listeners and the old pair in place.
            let client = try await RawWebSocketClient.connect(port: server.stompTLSPort)
            await client.close()
        }
    }
}
