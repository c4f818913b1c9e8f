// swift-tools-version:6.0
// libFuzzer targets for Perigee's parsers (see README.md, "Fuzzing", and run.sh).
//
// A package of its own, so that the main package's `swift build --build-tests` never tries to
// link a fuzz entry point: these executables only link with `-sanitize=fuzzer`, which brings
// libFuzzer's `main`. Build and run them with `Fuzz/run.sh TARGET SECONDS`.
import PackageDescription

let nioCore = Target.Dependency.product(name: "NIOCore", package: "swift-nio")
let nioEmbedded = Target.Dependency.product(name: "NIOEmbedded", package: "swift-nio")
let nioHTTP1 = Target.Dependency.product(name: "NIOHTTP1", package: "swift-nio")
let webSocket = Target.Dependency.product(name: "WebSocket", package: "perigee")
let hub = Target.Dependency.product(name: "Hub", package: "perigee")
let fallback = Target.Dependency.product(name: "Fallback", package: "perigee")

let package = Package(
    name: "perigee-fuzz",
    dependencies: [
        // The main package, by path; named so that products can refer to it whatever the
        // checkout's folder is called.
        .package(name: "perigee", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // libFuzzer's driver entry point, declared for Swift.
        .systemLibrary(name: "CLibFuzzer"),
        // Running the driver, reading control bytes and splitting streams: shared by every target.
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"]),
        // RFC 6455 frame parser, connection state machine, permessage-deflate inflater, handler.
        .executableTarget(name: "FuzzWebSocket", dependencies: ["FuzzSupport", webSocket, nioCore, nioEmbedded, nioHTTP1]),
        // SockJS send-body JSON parser, JSON quoting, the framing of each receiving transport.
        .executableTarget(name: "FuzzSockJS", dependencies: ["FuzzSupport", fallback]),
        // RFC 6455 upgrade handshake (structured and through NIO's HTTP decoder), draft-76 keys
        // and framing.
        .executableTarget(name: "FuzzHandshake", dependencies: ["FuzzSupport", webSocket, nioCore, nioEmbedded, nioHTTP1]),
        // Destination and wildcard pattern parsing and matching, with a step budget.
        .executableTarget(name: "FuzzDestination", dependencies: ["FuzzSupport", hub]),
        // STOMP parser, then a StompSession (with a gatekeeper that refuses, hides and reviews).
        .executableTarget(name: "FuzzStomp", dependencies: ["FuzzSupport", hub, nioCore, nioEmbedded]),
        // Access: destination globs, URL token parsing, token claims, hook answers, credentials.
        // Its sources include, by symbolic link, the Gateway files that hold these pure
        // functions (no cryptography, no HTTP client), so that this build needs neither
        // BoringSSL nor async-http-client.
        .executableTarget(name: "FuzzAccess", dependencies: ["FuzzSupport", hub, fallback, nioCore, nioHTTP1]),
    ],
    swiftLanguageModes: [.v6]
)
