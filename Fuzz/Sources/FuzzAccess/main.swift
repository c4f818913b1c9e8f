import FuzzSupport
import Hub
import NIOCore
import NIOHTTP1

// Input: a selector byte (mod 5), then the case's bytes:
//   0  a glob, a newline, a destination path: `Glob.matches` agrees with a memoised
//      recursive matcher written here (and the glob is never slow: the fuzzer's timeout);
//   1  a request URI: `ClientContext.queryParameter("token")` is at most 8 KiB of valid text;
//   2  a status byte (+ 100) and a hook answer body: `HookClient.reply`, then the connect and
//      send hooks' interpretation of an allowed answer — a principal's id is valid, a rewritten
//      message carries no `perigee-*` header;
//   3  a token's claims as JSON: `TokenVerifier.check` accepts only valid subjects and globs;
//   4  CONNECT headers, one `name:value` per line: `credential(in:)` finds at most one.
// The Gateway files under test are compiled into this target (symbolic links beside this file).

private func reference(_ glob: [UInt8], _ path: [UInt8]) -> Bool {
    var memo: [Int: Bool] = [:]
    func match(_ g: Int, _ p: Int) -> Bool {
        let key = g * (path.count + 1) + p
        if let known = memo[key] { return known }
        let result: Bool
        if g == glob.count {
            result = p == path.count
        } else if glob[g] == UInt8(ascii: "*") {
            let double = g + 1 < glob.count && glob[g + 1] == UInt8(ascii: "*")
            let rest = g + (double ? 2 : 1)
            var found = match(rest, p)
            var index = p
            while !found, index < path.count, double || path[index] != UInt8(ascii: "/") {
                index += 1
                found = match(rest, index)
            }
            result = found
        } else {
            result = p < path.count && path[p] == glob[g] && match(g + 1, p + 1)
        }
        memo[key] = result
        return result
    }
    return match(0, 0)
}

private let apiKeys = ["k": "secret-key-1"]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    switch input.byte() % 6 {
    case 0:
        let globText = String(decoding: input.bytes(upTo: UInt8(ascii: "\n")).prefix(300), as: UTF8.self)
        let path = String(decoding: input.rest().prefix(2_000), as: UTF8.self)
        fuzzCheck(Glob(globText).matches(path) == reference(Array(globText.utf8), Array(path.utf8)), "glob \(globText) on \(path)")
    case 1:
        let uri = String(decoding: input.rest(), as: UTF8.self)
        if let token = ClientContext.queryParameter("token", in: uri) {
            fuzzCheck(token.utf8.count <= 8 * 1024, "an oversized token was kept")
        }
    case 2:
        let status = HTTPResponseStatus(statusCode: Int(input.byte()) + 100)
        let body = ByteBuffer(bytes: input.rest())
        guard case .allowed(let answer) = HookReply(status: status, body: body) else { break }
        fuzzCheck(status.code == 200, "a \(status.code) answer allowed")
        if case .success(let principal) = HookAnswers.connectPrincipal(answer, token: nil, context: nil, policy: .standard) {
            fuzzCheck(principal.user.map(Identity.isValidUser) ?? true, "an invalid user id accepted")
        }
        if case .success(.replace(let headers, _)) = HookAnswers.sendOutcome(answer, headers: ["content-type": "text/plain"], body: ByteBuffer()) {
            fuzzCheck(!headers.contains { $0.name.lowercased().hasPrefix("perigee-") }, "a hook set a perigee- header")
        }
    case 3:
        let bytes = ByteBuffer(bytes: input.rest())
        guard case .allowed(let claims) = HookReply(status: .ok, body: bytes) else { break }
        let settings = TokenSettings(hs256Secret: "x", issuer: "i", audience: "perigee", leewaySeconds: 30)
        if case .success(let verified) = VerifiedToken.check(claims, settings: settings, now: 1_000_000) {
            fuzzCheck(Identity.isValidUser(verified.subject), "an invalid subject accepted")
            fuzzCheck(verified.narrowing.map { ($0.subscribe + $0.send).allSatisfy(AccessPolicy.isValidGlob) } ?? true, "an invalid glob accepted")
        }
    case 4:
        // The admin API's percent-decoding: bounded, and exact (what it decodes, encoded
        // again byte by byte, decodes to the same text).
        let mode = input.byte()
        let maxBytes = Int(input.byte()) * 8
        let encoded = String(decoding: input.rest().prefix(4_000), as: UTF8.self)
        if let decoded = PercentEncoding.decode(encoded[...], plusIsSpace: mode & 1 == 1, maxBytes: maxBytes) {
            fuzzCheck(decoded.utf8.count <= maxBytes, "decoded past maxBytes")
            let again = decoded.utf8.map { byte -> String in
                let hex = String(byte, radix: 16, uppercase: true)
                return "%" + (hex.count == 1 ? "0" + hex : hex)
            }.joined()
            fuzzCheck(PercentEncoding.decode(again[...], plusIsSpace: false, maxBytes: maxBytes) == decoded, "decoding is not exact for \(encoded)")
        }
        if let query = PercentEncoding.query(encoded[...], maxBytes: maxBytes) {
            fuzzCheck(query.values.allSatisfy { $0.utf8.count <= maxBytes }, "a query value past maxBytes")
        }
    default:
        var headers = StompHeaders()
        for line in input.rest().split(separator: UInt8(ascii: "\n")).prefix(16) {
            let parts = line.split(separator: UInt8(ascii: ":"), maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2 else { continue }
            headers.add(String(decoding: parts[0], as: UTF8.self), String(decoding: parts[1], as: UTF8.self))
        }
        if case .apiKey(let name) = Credential.find(in: headers, context: nil, apiKeys: apiKeys, acceptsTokens: true) {
            fuzzCheck(name == "k", "an API key found that is not configured")
        }
    }
    return 0
}

runLibFuzzer(fuzz)
