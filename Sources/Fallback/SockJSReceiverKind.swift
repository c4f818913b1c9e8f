/// How each receiving transport wraps frames (SockJS protocol 0.3, one section per
/// transport): its content type, what it sends first, and the text around each frame.
public enum SockJSReceiverKind: Sendable, Equatable {
    case xhrPolling
    case xhrStreaming
    case eventSource
    case htmlFile(callback: String)
    case jsonp(callback: String)

    /// The transport's name in sockjs-client's terms (`xhr-streaming`, `jsonp-polling`, ...).
    public var transportName: String {
        switch self {
        case .xhrPolling: return "xhr-polling"
        case .xhrStreaming: return "xhr-streaming"
        case .eventSource: return "eventsource"
        case .htmlFile: return "htmlfile"
        case .jsonp: return "jsonp-polling"
        }
    }

    /// Polling transports answer one frame per request; streaming ones keep the response open.
    public var isStreaming: Bool {
        switch self {
        case .xhrPolling, .jsonp: return false
        case .xhrStreaming, .eventSource, .htmlFile: return true
        }
    }

    public var contentType: String {
        switch self {
        case .xhrPolling, .xhrStreaming, .jsonp: return "application/javascript; charset=UTF-8"
        case .eventSource: return "text/event-stream"
        case .htmlFile: return "text/html; charset=UTF-8"
        }
    }

    /// Sent before any frame: 2 KiB of `h` defeats the buffering of old XHR implementations;
    /// htmlfile's page defines `p()` and is padded past 1 KiB for the same reason.
    public var prelude: String? {
        switch self {
        case .xhrPolling, .jsonp: return nil
        case .xhrStreaming: return String(repeating: "h", count: 2048) + "\n"
        case .eventSource: return "\r\n"
        case .htmlFile(let callback):
            let page = """
                <!doctype html>
                <html><head>
                  <meta http-equiv="X-UA-Compatible" content="IE=edge" />
                  <meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
                </head><body><h2>Don't panic!</h2>
                  <script>
                    document.domain = document.domain;
                    var c = parent.\(callback);
                    c.start();
                    function p(d) {c.message(d);};
                    window.onload = function() {c.stop();};
                  </script>
                """
            return page + String(repeating: " ", count: max(0, 1025 - page.utf8.count)) + "\r\n\r\n"
        }
    }

    /// One frame as this transport writes it.
    public func wrap(_ frame: SockJSFrame) -> String {
        let text = frame.encoded
        switch self {
        case .xhrPolling, .xhrStreaming: return text + "\n"
        case .eventSource:
            // sockjs-client runs decodeURI on EventSource data: a literal % must survive it.
            // (CR, LF and NUL, which would also need it, never survive JSON encoding unescaped.)
            return "data: " + text.replacingPercent() + "\r\n\r\n"
        case .htmlFile: return "<script>\np(" + SockJSJSON.quote(text) + ");\n</script>\r\n"
        case .jsonp(let callback): return "/**/" + callback + "(" + SockJSJSON.quote(text) + ");\r\n"
        }
    }

    /// Callback names: letters, digits, `-`, `_` and `.` only, so that they cannot inject
    /// script into htmlfile and jsonp responses.
    public static func isValidCallback(_ callback: String) -> Bool {
        !callback.isEmpty && callback.unicodeScalars.allSatisfy { scalar in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".": return true
            default: return false
            }
        }
    }
}

extension String {
    /// Every `%` byte as `%25`. Works on UTF-8 bytes, not Characters: a `%` followed by a
    /// combining mark is one Character with it, and would otherwise escape unescaped.
    func replacingPercent() -> String {
        guard utf8.contains(UInt8(ascii: "%")) else { return self }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(utf8.count + 16)
        for byte in utf8 {
            if byte == UInt8(ascii: "%") {
                bytes += [UInt8(ascii: "%"), UInt8(ascii: "2"), UInt8(ascii: "5")]
            } else {
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
