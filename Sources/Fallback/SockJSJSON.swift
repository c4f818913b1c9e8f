import Foundation

/// JSON the way SockJS needs it: strings quoted with every character a browser might mangle
/// escaped as `\uXXXX`, and client payloads (`["m1","m2"]`) decoded strictly.
public enum SockJSJSON {
    /// Quotes `text` as a JSON string. Beyond what JSON requires, escapes the characters the
    /// SockJS protocol lists as unsafe in transit or in JavaScript source: C0 and C1 controls,
    /// the invisible formatting ranges, U+2028/U+2029, non-characters, and every non-BMP
    /// scalar (as an escaped surrogate pair), so that a string survives every transport.
    /// `<`, `>` and `&` become `\u003c`, `\u003e` and `\u0026`: quoted client text embedded in
    /// an htmlfile `<script>` block or a jsonp response can then never close the script or
    /// open markup (issue 7, fault 3).
    public static func quote(_ text: String) -> String {
        var output = "\""
        output.reserveCapacity(text.utf8.count + 2)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            default:
                if needsEscape(scalar.value) {
                    for unit in String(scalar).utf16 { output += escape(unit) }
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
        return output
    }

    private static func needsEscape(_ value: UInt32) -> Bool {
        switch value {
        case 0x00...0x1F, 0x26, 0x3C, 0x3E, 0x7F...0x9F, 0xAD, 0x300...0x36F, 0x600...0x604, 0x70F, 0x17B4...0x17B5,
            0x200C...0x200F, 0x2028...0x202F, 0x2060...0x206F, 0xFEFF, 0xFFF0...0xFFFF, 0x10000...:
            return true
        default:
            return false
        }
    }

    private static func escape(_ unit: UInt16) -> String {
        let hex = String(unit, radix: 16)
        return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }

    /// Decodes a client payload: one JSON string or an array of strings. Nil when it is not
    /// valid JSON of that shape.
    public static func decodeMessages(_ data: [UInt8]) -> [String]? {
        guard let value = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed]) else { return nil }
        if let messages = value as? [String] { return messages }
        if let message = value as? String { return [message] }
        return nil
    }
}
