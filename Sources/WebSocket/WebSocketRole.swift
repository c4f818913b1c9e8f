/// Which end of the connection this engine plays; it decides the masking rule (RFC 6455 §5.1):
/// a client masks every frame it sends, a server masks none.
public enum WebSocketRole: Sendable, Hashable {
    case server
    case client
}
