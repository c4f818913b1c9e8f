import Hub
import NIOCore
import NIOHTTP1

/// The HTTP publish API (`POST /api/publish/<destination>`), as pure functions from a request
/// to a hub message or to the exact error answer.
enum PublishRequest {
    /// An API error: its status and a one-line message, sent as JSON.
    struct Failure: Error, Equatable {
        var status: HTTPResponseStatus
        var message: String
    }

    static let pathPrefix = "/api/publish"

    /// Builds the message for a publish request whose body has been read.
    /// `sender` becomes the message's `perigee-user` (an `X-Stomp-Perigee-User` of the
    /// request's own never passes).
    static func message(_ head: HTTPRequestHead, body: ByteBuffer, id: String, sender: String?) -> Result<HubMessage, Failure> {
        let path = GatewayRouter.path(of: head.uri)
        let destinationText = String(path.dropFirst(pathPrefix.count))
        guard let destination = Destination(destinationText) else {
            return .failure(Failure(
                status: .badRequest,
                message: "bad destination \(destinationText.isEmpty ? "(none)" : destinationText): use /api/publish/topic/NAME or /api/publish/queue/NAME"
            ))
        }
        var headers = StompHeaders()
        if let contentType = head.headers.first(name: "content-type") {
            let lowered = contentType.lowercased()
            if lowered.hasPrefix("multipart/") || lowered.hasPrefix("application/x-www-form-urlencoded") {
                return .failure(Failure(
                    status: .unsupportedMediaType,
                    message: "\(contentType) is not supported: send the message itself as the request body"
                ))
            }
            headers.add("content-type", contentType)
        }
        for (name, value) in head.headers {
            let lowered = name.lowercased()
            guard lowered.hasPrefix("x-stomp-") else { continue }
            let stompName = String(lowered.dropFirst("x-stomp-".count))
            guard !stompName.isEmpty else { continue }
            headers.add(stompName, value)
        }
        var passed = HubMessage.passThroughHeaders(headers)
        if let sender { passed.add(HubMessage.senderHeader, sender) }
        return .success(HubMessage(id: id, destination: destination, headers: passed, body: body))
    }
}
