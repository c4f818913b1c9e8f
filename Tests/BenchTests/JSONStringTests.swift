import NIOCore
import Testing

@testable import Bench

@Suite struct JSONStringTests {
    @Test func unescapesASockJSString() {
        let text = Array(#""SEND\ndestination:\/a\n\nb\"c\u0000",next"#.utf8)
        var output = ByteBuffer()
        let end = text.withUnsafeBytes { JSONString.unescape($0, from: 1, end: $0.count, into: &output) }
        #expect(String(buffer: output) == "SEND\ndestination:/a\n\nb\"c\u{0}")
        #expect(end == text.count - 5)
    }

    @Test func escapesAndUnescapesBack() {
        let original = Array("CONNECT\nhost:/\n\n\0".utf8)
        var escaped = ByteBuffer()
        original.withUnsafeBytes { JSONString.escape($0, into: &escaped) }
        #expect(String(buffer: escaped) == #"CONNECT\nhost:/\n\n\u0000"#)
        var quoted = Array(escaped.readableBytesView)
        quoted.append(UInt8(ascii: "\""))
        var output = ByteBuffer()
        _ = quoted.withUnsafeBytes { JSONString.unescape($0, from: 0, end: $0.count, into: &output) }
        #expect(Array(output.readableBytesView) == original)
    }

    @Test func reportJSONStartsWithTheTool() {
        let value = JSONValue.object([("tool", .string("perigee-bench")), ("x", .null), ("p", .number(1.23456))])
        #expect(value.serialized == #"{"tool":"perigee-bench","x":null,"p":1.235}"#)
    }
}
