import NIOHTTP1

/// An answer of the JSON APIs (`AdminAPI`, `TopicAPI`): status, the members of the JSON
/// object sent (written sorted by name), and for 405 the `Allow` header. Errors are
/// `{"error": "..."}`.
struct APIReply: Error, Equatable {
    var status: HTTPResponseStatus
    var body: [String: JSONValue]
    var allow: String?

    static func error(_ status: HTTPResponseStatus, _ message: String, allow: String? = nil) -> APIReply {
        APIReply(status: status, body: ["error": .string(message)], allow: allow)
    }
}
