import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One log event rendered as exactly one line (no line break inside, one `\n` at its end),
/// whatever its message and metadata hold: client-supplied values may contain newlines,
/// quotes, NUL or U+2028 and must neither split the line nor forge fields.
///
/// - text: `TIMESTAMP LEVEL LABEL: MESSAGE key=value ...`, keys sorted; a value is quoted
///   (with `\"`, `\\`, `\n`, `\r`, `\t`, `\u{XX}` escapes) when it is empty or holds a space,
///   `"`, `=`, `\` or a control, line or paragraph separator character. The label and message
///   are quoted the same way when they hold any of those but a space, so that an unquoted
///   message never contains `=`: the first ` word=` after it starts the metadata, and a
///   message cannot forge a field.
/// - json: `{"ts":…,"level":…,"label":…,"msg":…,<metadata keys sorted>}` (RFC 8259 §7 string
///   escaping, plus U+2028 and U+2029 escaped for JavaScript consumers). Integers and booleans
///   stay JSON numbers and booleans; nested dictionaries and arrays become objects and arrays.
///   A metadata key that collides with one of the four fixed keys is written as `meta.KEY`.
struct LogLine {
    var timestamp: String
    var level: Logger.Level
    var label: String
    var message: String
    var metadata: Logger.Metadata

    static let fixedKeys: Set<String> = ["ts", "level", "label", "msg"]

    /// The line in `format`, ending with `\n`.
    func rendered(as format: LogFormat) -> String {
        switch format {
        case .text: return text()
        case .json: return json()
        }
    }

    // MARK: Text

    private func text() -> String {
        var line = timestamp
        line += " "
        line += level.rawValue
        line += " "
        Self.appendText(label, to: &line)
        line += ": "
        Self.appendText(message, to: &line)
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            line += " "
            line += Self.textKey(key)
            line += "="
            Self.appendTextValue(Self.plain(value), to: &line)
        }
        line += "\n"
        return line
    }

    /// A key from code, made safe all the same: anything outside `[A-Za-z0-9_.-]` becomes `_`.
    private static func textKey(_ key: String) -> String {
        guard !key.isEmpty else { return "_" }
        return String(String.UnicodeScalarView(key.unicodeScalars.map { isKeyScalar($0) ? $0 : "_" }))
    }

    private static func isKeyScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "-": return true
        default: return false
        }
    }

    /// A metadata value as text: strings as they are, nested values as JSON.
    private static func plain(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let text): return text
        case .stringConvertible(let convertible): return convertible.description
        case .dictionary, .array:
            var json = ""
            appendJSON(value, to: &json)
            return json
        }
    }

    private static func needsQuotes(_ text: String) -> Bool {
        text.isEmpty || text.unicodeScalars.contains { $0 == " " || $0 == "\"" || $0 == "=" || $0 == "\\" || isControl($0) }
    }

    private static func appendTextValue(_ text: String, to line: inout String) {
        guard needsQuotes(text) else {
            line += text
            return
        }
        appendQuoted(text, to: &line)
    }

    /// Free text (label, message): as it is, spaces included, unless it holds `"`, `=`, `\` or
    /// a control character; then quoted like a value.
    private static func appendText(_ text: String, to line: inout String) {
        guard text.unicodeScalars.contains(where: { $0 == "\"" || $0 == "=" || $0 == "\\" || isControl($0) }) else {
            line += text
            return
        }
        appendQuoted(text, to: &line)
    }

    private static func appendQuoted(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            default: appendEscapedScalar(scalar, to: &line)
            }
        }
        line += "\""
    }

    private static func appendEscapedScalar(_ scalar: Unicode.Scalar, to line: inout String) {
        switch scalar {
        case "\n": line += "\\n"
        case "\r": line += "\\r"
        case "\t": line += "\\t"
        default:
            if isControl(scalar) {
                line += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
    }

    /// C0 and C1 controls, DEL, and the Unicode line and paragraph separators: anything a
    /// terminal or a log shipper might take for the end of a line.
    private static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
    }

    // MARK: JSON

    private func json() -> String {
        var line = "{\"ts\":"
        Self.appendJSONString(timestamp, to: &line)
        line += ",\"level\":"
        Self.appendJSONString(level.rawValue, to: &line)
        line += ",\"label\":"
        Self.appendJSONString(label, to: &line)
        line += ",\"msg\":"
        Self.appendJSONString(message, to: &line)
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            line += ","
            Self.appendJSONString(Self.fixedKeys.contains(key) ? "meta." + key : key, to: &line)
            line += ":"
            Self.appendJSON(value, to: &line)
        }
        line += "}\n"
        return line
    }

    private static func appendJSON(_ value: Logger.MetadataValue, to line: inout String) {
        switch value {
        case .string(let text):
            appendJSONString(text, to: &line)
        case .stringConvertible(let convertible):
            appendJSONScalar(convertible, to: &line)
        case .dictionary(let dictionary):
            line += "{"
            for (index, key) in dictionary.keys.sorted().enumerated() {
                guard let nested = dictionary[key] else { continue }
                if index > 0 { line += "," }
                appendJSONString(key, to: &line)
                line += ":"
                appendJSON(nested, to: &line)
            }
            line += "}"
        case .array(let values):
            line += "["
            for (index, nested) in values.enumerated() {
                if index > 0 { line += "," }
                appendJSON(nested, to: &line)
            }
            line += "]"
        }
    }

    /// Integers and booleans as JSON numbers and booleans, finite floating-point numbers as
    /// numbers, anything else as the string of its description.
    private static func appendJSONScalar(_ value: any CustomStringConvertible & Sendable, to line: inout String) {
        switch value {
        case let number as any BinaryInteger:
            line += number.description
        case let flag as Bool:
            line += flag ? "true" : "false"
        case let number as Double where number.isFinite:
            line += number.description
        case let number as Float where number.isFinite:
            line += number.description
        default:
            appendJSONString(value.description, to: &line)
        }
    }

    /// RFC 8259 §7: `"` and `\` escaped, control characters as `\n`-style or `\u00XX`
    /// escapes; DEL, C1 controls and U+2028/U+2029 escaped too (valid JSON either way, but
    /// some consumers split lines on them).
    static func appendJSONString(_ text: String, to line: inout String) {
        line += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case "\u{08}": line += "\\b"
            case "\u{0C}": line += "\\f"
            default:
                if isControl(scalar) {
                    let hex = String(scalar.value, radix: 16)
                    line += "\\u" + String(repeating: "0", count: 4 - hex.utf8.count) + hex
                } else {
                    line.unicodeScalars.append(scalar)
                }
            }
        }
        line += "\""
    }

    // MARK: Timestamp

    /// The current UTC time as ISO 8601 with milliseconds: `2026-01-31T12:00:00.123Z`.
    static func now() -> String {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return timestamp(seconds: Int(spec.tv_sec), milliseconds: Int(spec.tv_nsec) / 1_000_000)
    }

    /// `seconds` since 1970 (UTC) and `milliseconds` 0...999 as ISO 8601.
    static func timestamp(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "1970-01-01T00:00:00.000Z" }
        func padded(_ value: Int32, _ width: Int) -> String {
            let digits = String(value)
            return String(repeating: "0", count: max(0, width - digits.utf8.count)) + digits
        }
        return padded(parts.tm_year + 1900, 4) + "-" + padded(parts.tm_mon + 1, 2) + "-" + padded(parts.tm_mday, 2)
            + "T" + padded(parts.tm_hour, 2) + ":" + padded(parts.tm_min, 2) + ":" + padded(parts.tm_sec, 2)
            + "." + padded(Int32(clamping: milliseconds), 3) + "Z"
    }
}
