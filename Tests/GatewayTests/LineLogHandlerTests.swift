import Foundation
@testable import Gateway
import Logging
import NIOConcurrencyHelpers
import Testing

/// `LogLine` and `LineLogHandler`: every event is exactly one line in both formats, whatever
/// a client put into its values.
@Suite struct LineLogHandlerTests {
    /// Values a hostile client could get into a log line.
    static let hostile: [String] = [
        "two\nlines", "carriage\rreturn", "nul\u{0}byte", "quote\" key=forged", "back\\slash", "tab\there",
        "line\u{2028}separator", "para\u{2029}graph", "del\u{7F}c1\u{85}", "emoji 🛰️ and 日本語", "",
        "\u{1B}[31mred", String(repeating: "long value ", count: 20_000),
    ]

    private final class Lines: Sendable {
        private let box = NIOLockedValueBox<[String]>([])
        var all: [String] { box.withLockedValue { $0 } }
        func append(_ line: String) { box.withLockedValue { $0.append(line) } }
    }

    private func logger(_ format: LogFormat, level: Logger.Level = .info) -> (Logger, Lines) {
        let lines = Lines()
        let logger = Logger(label: "perigee.test") { label in
            LineLogHandler(label: label, format: format, level: level) { lines.append($0) }
        }
        return (logger, lines)
    }

    private struct Failure: Error {}

    private func isOneLine(_ line: String) -> Bool {
        line.hasSuffix("\n") && line.dropLast().allSatisfy { !$0.isNewline } && !line.dropLast().unicodeScalars.contains { $0.value < 0x20 }
    }

    @Test func timestampIsISO8601UTCWithMilliseconds() {
        #expect(LogLine.timestamp(seconds: 0, milliseconds: 0) == "1970-01-01T00:00:00.000Z")
        #expect(LogLine.timestamp(seconds: 1_800_000_000, milliseconds: 7) == "2027-01-15T08:00:00.007Z")
        let now = LogLine.now()
        #expect(now.utf8.count == 24 && now.hasSuffix("Z"))
    }

    @Test func textLineLayout() {
        let line = LogLine(
            timestamp: "2026-01-31T12:00:00.123Z", level: .notice, label: "perigee", message: "request refused",
            metadata: ["status": "400", "path": "/stomp", "reason": "bad request", "connection": "h-1"]
        )
        #expect(line.rendered(as: .text) == "2026-01-31T12:00:00.123Z notice perigee: request refused connection=h-1 path=/stomp reason=\"bad request\" status=400\n")
    }

    @Test func jsonLineLayout() throws {
        let line = LogLine(
            timestamp: "2026-01-31T12:00:00.123Z", level: .info, label: "perigee", message: "closed",
            metadata: [
                "bytes_in": .stringConvertible(42), "tls": .stringConvertible(true), "user": "alice",
                "nested": .dictionary(["b": .array(["x", .stringConvertible(1)]), "a": "y"]), "msg": "collides",
            ]
        )
        #expect(line.rendered(as: .json) == #"{"ts":"2026-01-31T12:00:00.123Z","level":"info","label":"perigee","msg":"closed","bytes_in":42,"meta.msg":"collides","nested":{"a":"y","b":["x",1]},"tls":true,"user":"alice"}"# + "\n")
    }

    @Test func textEscapesHostileValues() throws {
        let (logger, lines) = logger(.text)
        for value in Self.hostile {
            logger.notice("hostile \(value)", metadata: ["value": .string(value), "bad key\n": "x"])
        }
        #expect(lines.all.count == Self.hostile.count)
        for line in lines.all {
            #expect(isOneLine(line), "not one line: \(line.prefix(200).debugDescription)")
            // Forged fields stay inside quotes: outside them, no forged key.
            let unquoted = line.replacing(/"(?:[^"\\]|\\.)*"/, with: "\"\"")
            #expect(!unquoted.contains("key=forged") && !unquoted.contains("\\"))
            #expect(line.contains(" bad_key_=x "))
        }
        #expect(lines.all[0].hasSuffix(" value=\"two\\nlines\"\n"))
        #expect(lines.all[2].contains(" value=\"nul\\u{0}byte\""))
        #expect(lines.all[3].contains(#" value="quote\" key=forged""#))
        #expect(lines.all[4].contains(#" value="back\\slash""#))
        #expect(lines.all[6].contains(#" value="line\u{2028}separator""#))
        #expect(lines.all[9].contains(" value=\"emoji 🛰️ and 日本語\""))
        #expect(lines.all[10].hasSuffix(" value=\"\"\n"))
        #expect(lines.all[0].contains(" perigee.test: \"hostile two\\nlines\" "))
        #expect(lines.all[9].contains(" perigee.test: hostile emoji 🛰️ and 日本語 "))
    }

    @Test func jsonEscapesHostileValues() throws {
        let (logger, lines) = logger(.json)
        for value in Self.hostile {
            logger.notice("hostile \(value)", metadata: ["value": .string(value), "list": .array([.string(value)])])
        }
        #expect(lines.all.count == Self.hostile.count)
        for (line, value) in zip(lines.all, Self.hostile) {
            #expect(isOneLine(line), "not one line: \(line.prefix(200).debugDescription)")
            #expect(!line.contains("\u{2028}") && !line.contains("\u{2029}"))
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["value"] as? String == value)
            #expect(object["msg"] as? String == "hostile \(value)")
            #expect((object["list"] as? [String]) == [value])
            #expect(object["level"] as? String == "notice")
            #expect(object["label"] as? String == "perigee.test")
        }
    }

    @Test func levelAndMetadataSources() throws {
        let (base, lines) = logger(.json, level: .notice)
        var logger = base
        logger[metadataKey: "connection"] = "h-7"
        logger.info("below the level")
        logger.notice("at the level", metadata: ["connection": "h-8"])
        logger.error("with an error", error: Failure())
        #expect(lines.all.count == 2)
        let first = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[0].utf8)) as? [String: Any])
        #expect(first["connection"] as? String == "h-8")
        let second = try #require(try JSONSerialization.jsonObject(with: Data(lines.all[1].utf8)) as? [String: Any])
        #expect(second["connection"] as? String == "h-7")
        #expect(second["error"] != nil)
    }

    @Test func linesFromManyThreadsStayWhole() async throws {
        let (logger, lines) = logger(.json)
        await withTaskGroup(of: Void.self) { group in
            for task in 0..<8 {
                group.addTask {
                    for index in 0..<200 { logger.info("event", metadata: ["task": "\(task)", "index": "\(index)"]) }
                }
            }
        }
        #expect(lines.all.count == 1_600)
        for line in lines.all { #expect(isOneLine(line)) }
    }
}
