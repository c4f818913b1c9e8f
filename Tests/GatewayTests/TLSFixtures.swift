import Foundation

/// Throwaway certificates for the TLS tests (self-signed P-256, CN=localhost, valid until 2126;
/// generated with `openssl req -x509` for these tests only, protecting nothing).
enum TLSFixtures {
    static let certificate = """
-----BEGIN CERTIFICATE-----
MIIBmzCCAUGgAwIBAgIUCMcT7J2IcVjZZkiMFeBDfwTUf1AwCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEzMDAyMzQ1OVoYDzIxMjYxMTA2
MDIzNDU5WjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASEy+RVEQeYO1JgdVlOgO8AszoiodNqdK0tlzz0uYT7zlqeP3h+/i7m
k5zPozpr/yb6bxJV6npcGje2Uu6/HaFTo28wbTAdBgNVHQ4EFgQUWyC0vVV3oIpS
NfqmgqwId+4bm0AwHwYDVR0jBBgwFoAUWyC0vVV3oIpSNfqmgqwId+4bm0AwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSAAwRQIhAKiZGmJ00nFtupV+yLJY8D7tmD96KSqAMinUJIoLaswuAiBv
zlTwG0imzOap8L2IZSFvoumY6UIQYHIIc5+9ZzYIYA==
-----END CERTIFICATE-----
"""

    /// The private key of `certificate`.
    static let key = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg7+xJXN6cwWi2Pz+3
I6s6Vb+4iEFpKqJ+rFKiBYn6tHOhRANCAASEy+RVEQeYO1JgdVlOgO8AszoiodNq
dK0tlzz0uYT7zlqeP3h+/i7mk5zPozpr/yb6bxJV6npcGje2Uu6/HaFT
-----END PRIVATE KEY-----
"""

    /// A valid key that is not `certificate`'s.
    static let otherKey = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgJa0ZH9ZPS10LHrXm
/5Edp/yco9RLNkg2nH0PXpaHoHmhRANCAAS3WW1Qzc9WzAZbsBxcn2j2J9PaMqCe
JKmmq+TV18wb2n5rVGsE4rIWuUtKDJ3Kg2a8xzeagPovT7tN7isaicIz
-----END PRIVATE KEY-----
"""

    /// A second certificate (same subject, other key), for reloads.
    static let secondCertificate = """
-----BEGIN CERTIFICATE-----
MIIBnDCCAUGgAwIBAgIUXxsj7YKobcl2sGGkK0OdVrA+YJ0wCgYIKoZIzj0EAwIw
FDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTEzMDAyMzUzMloYDzIxMjYxMTA2
MDIzNTMyWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwWTATBgcqhkjOPQIBBggqhkjO
PQMBBwNCAASzF5eCbKEVSe6dgjws+p3DEkzi7lBGK+s2zN6ELvTtAolGcifjjouY
lleXI7SwiavmQ7EsXJviCsqpB0r5jQvYo28wbTAdBgNVHQ4EFgQUf0pdmygXvt5U
zPdZRoXgKEFHubQwHwYDVR0jBBgwFoAUf0pdmygXvt5UzPdZRoXgKEFHubQwDwYD
VR0TAQH/BAUwAwEB/zAaBgNVHREEEzARgglsb2NhbGhvc3SHBH8AAAEwCgYIKoZI
zj0EAwIDSQAwRgIhAI2ThBRqJfRVTf4OVKCGgEQ9SX9KBMPMDFeKa6oUclCZAiEA
xQxWZLH+mxDrMIAyJ1v+OKccPGU86ZJCRxkGleYtq3c=
-----END CERTIFICATE-----
"""

    /// The private key of `secondCertificate`.
    static let secondKey = """
-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgxjakUoT4BeDZTsN9
uWVPKBo7StK91/rscteCct590gGhRANCAASzF5eCbKEVSe6dgjws+p3DEkzi7lBG
K+s2zN6ELvTtAolGcifjjouYlleXI7SwiavmQ7EsXJviCsqpB0r5jQvY
-----END PRIVATE KEY-----
"""

    /// A new folder under the system's temporary folder.
    static func makeFolder() throws -> String {
        let path = NSTemporaryDirectory() + "perigee-tls-" + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func write(_ text: String, to path: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }
}
