import Foundation
import NIOCore
import NIOHTTP1

/// What a hook answered.
enum HookReply: Sendable {
    /// 200 with a JSON object.
    case allowed(JSONValue)
    /// 401 or 403; the `reason` of its JSON body, or a generic one.
    case refused(String)
    /// Anything else, in words for the ERROR body ("timed out after 3000 ms").
    case failed(String)
    /// Not called: the client's address has `maxPendingPerAddress` calls pending. Always
    /// fails closed.
    case busy(String)

    /// Largest hook answer read, in bytes.
    static let maxAnswerBytes = 64 * 1024

    /// What an answer means: `200` with a JSON object allows; 401 or 403 refuses (with the
    /// JSON body's `reason` when there is one); anything else — another status, an empty or
    /// non-object body — is a failure, so that a broken endpoint never lets a client in.
    init(status: HTTPResponseStatus, body: ByteBuffer?) {
        let bytes = body.map { Data($0.readableBytesView) } ?? Data()
        let json = bytes.isEmpty ? nil : try? JSONDecoder().decode(JSONValue.self, from: bytes)
        switch status.code {
        case 200:
            guard let json, case .object = json else {
                self = .failed("answered 200 without a JSON object")
                return
            }
            self = .allowed(json)
        case 401, 403:
            self = .refused(json?["reason"]?.stringValue ?? "refused by the application")
        default:
            self = .failed("answered HTTP \(status.code)")
        }
    }
}
