import Logging
import NIOCore
import NIOHTTP1

/// Logs HTTP requests the gateway refuses (every 4xx and 5xx answer), one line each:
/// `notice` (404 at `debug`, since browsers ask for favicons), with a connection id, the
/// client's address, the method, the path and the reason that went on the wire.
///
/// What it never logs, whatever the caller passes: the query string (`?token=` carries JWTs;
/// only `GatewayRouter.path(of:)` is written) and any header (Authorization, Cookie). Successful
/// requests are not logged: nothing here runs per message at `info`.
struct RequestLogger: Sendable {
    let logger: Logger

    /// A short id for `channel`, stable while it is open: `http-` and its object identity in hex.
    static func connectionID(of channel: any Channel) -> String {
        "http-" + String(UInt(bitPattern: ObjectIdentifier(channel).hashValue), radix: 16)
    }

    /// The level of a refusal with `status`: 404 is routine, everything else is worth a look.
    static func level(of status: HTTPResponseStatus) -> Logger.Level {
        status == .notFound ? .debug : .notice
    }

    /// The fields of a line about `head` on `channel` (no query string, no header).
    static func metadata(channel: any Channel, head: HTTPRequestHead?) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["connection": .string(connectionID(of: channel))]
        if let address = channel.remoteAddress?.ipAddress { metadata["address"] = .string(address) }
        if let head {
            metadata["method"] = .string(head.method.rawValue)
            metadata["path"] = .string(GatewayRouter.path(of: head.uri))
        }
        return metadata
    }

    /// Logs that `status` answered `head` (nil when the request never became one: a malformed
    /// or timed-out head) because of `reason`, the text sent to the client. Does nothing for
    /// statuses below 400.
    func refused(_ status: HTTPResponseStatus, reason: String, head: HTTPRequestHead?, channel: any Channel) {
        guard status.code >= 400 else { return }
        let level = Self.level(of: status)
        guard logger.logLevel <= level else { return }
        var metadata = Self.metadata(channel: channel, head: head)
        metadata["status"] = .stringConvertible(Int(status.code))
        metadata["reason"] = .string(Self.trimmed(reason))
        logger.log(level: level, "request refused", metadata: metadata)
    }

    /// A reason as one short line: at most 512 characters, without the trailing newline of a body.
    static func trimmed(_ reason: String) -> String {
        var text = Substring(reason)
        while text.last?.isNewline == true { text = text.dropLast() }
        guard text.utf8.count > 512 else { return String(text) }
        return String(text.prefix(512)) + "…"
    }
}
