/// SockJS-compatible streaming and long-poll transports that carry strings and know no STOMP.
/// Its contents arrive with the fallback issue (#4); this file gives the module its place in
/// the layout so that the dependency rules are in force from the start.
public enum Fallback {}
