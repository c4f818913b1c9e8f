import NIOSSL

/// The certificate chain and private key files of the TLS listeners (`tls.cert_file`,
/// `tls.key_file`), and where the configuration named them, so that a problem found when the
/// files are read again (SIGHUP) is reported against the same `file:line: key`.
public struct TLSCertificateFiles: Sendable, Equatable {
    /// A PEM certificate chain, leaf first.
    public var certificateFile: String
    /// A PEM private key (RSA or EC) matching the leaf certificate.
    public var privateKeyFile: String
    /// The configuration file and the lines of the two keys, for error messages.
    public var source: String = "configuration"
    public var certificateLine: Int?
    public var privateKeyLine: Int?

    /// The files are read whole; larger ones are refused (a chain is a few KiB).
    static let maxFileSize = 1 << 20

    public init(certificateFile: String, privateKeyFile: String) {
        self.certificateFile = certificateFile
        self.privateKeyFile = privateKeyFile
    }

    /// Reads both files and builds a server context from them: TLS 1.2 and 1.3 with
    /// swift-nio-ssl's default ciphers, no client certificates.
    ///
    /// Blocking file I/O: never call it on an event loop.
    /// - Throws: `ConfigurationError` at `tls.cert_file` when the chain file is missing,
    ///   unreadable or holds no PEM certificate, and at `tls.key_file` when the key file is
    ///   missing, unreadable, holds no PEM private key, or the key does not match the leaf.
    public func makeContext() throws(ConfigurationError) -> NIOSSLContext {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMBytes(try read(certificateFile, key: "tls.cert_file", line: certificateLine))
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw fail("tls.cert_file", certificateLine, "expected a PEM certificate chain in \(certificateFile), but it does not parse")
        }
        guard !chain.isEmpty else {
            throw fail("tls.cert_file", certificateLine, "expected a PEM certificate chain in \(certificateFile), found no certificate")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(bytes: try read(privateKeyFile, key: "tls.key_file", line: privateKeyLine), format: .pem)
        } catch let error as ConfigurationError {
            throw error
        } catch {
            throw fail("tls.key_file", privateKeyLine, "expected a PEM private key in \(privateKeyFile), but it does not parse")
        }
        let configuration = TLSConfiguration.makeServerConfiguration(
            certificateChain: chain.map { .certificate($0) },
            privateKey: .privateKey(key)
        )
        do {
            return try NIOSSLContext(configuration: configuration)
        } catch {
            // Loading the chain succeeded above, so the key is what the library refused.
            throw fail(
                "tls.key_file", privateKeyLine,
                "expected the private key of the certificate in \(certificateFile); \(privateKeyFile) does not match it (\(error))"
            )
        }
    }

    private func read(_ path: String, key: String, line: Int?) throws(ConfigurationError) -> [UInt8] {
        do {
            return try FileReader.read(path, maxSize: Self.maxFileSize)
        } catch .notFound {
            throw fail(key, line, "expected a readable PEM file, but \(path) is missing, not a regular file, or not permitted")
        } catch .tooLarge {
            throw fail(key, line, "expected a PEM file of at most \(Self.maxFileSize) bytes, but \(path) is larger")
        } catch {
            throw fail(key, line, "expected a readable PEM file, but \(path) cannot be read")
        }
    }

    private func fail(_ key: String, _ line: Int?, _ problem: String) -> ConfigurationError {
        ConfigurationError(file: source, line: line, key: key, problem: problem)
    }
}
