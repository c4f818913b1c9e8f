import NIOCore
import Testing
@testable import Hub

@Suite struct StompParserTests {
    /// Issue 8: an idle connection holds no read buffer once its frames are parsed.
    @Test func releasesTheReadBufferOnceConsumed() throws {
        var parser = StompParser(limits: .init(), version: .v1_2)
        var read = ByteBufferAllocator().buffer(capacity: 8192)
        read.writeString("SUBSCRIBE\nid:1\ndestination:/topic/a\n\n\0\n")
        parser.append(read)
        guard case .frame = try parser.parseStep() else { Issue.record("no frame"); return }
        #expect(try parser.parseStep() == .heartbeat)
        #expect(try parser.parseStep() == .needMoreData)
        #expect(parser.bufferCapacity == 0)
    }

    private func parse(_ text: String, version: StompVersion? = .v1_2, limits: StompLimits = .init()) throws(StompError) -> [StompParser.ParseResult] {
        var parser = StompParser(limits: limits, version: version)
        parser.append(ByteBuffer(string: text))
        var results: [StompParser.ParseResult] = []
        while true {
            let result = try parser.parseStep()
            if result == .needMoreData { return results }
            results.append(result)
        }
    }

    private func frames(_ text: String, version: StompVersion? = .v1_2) throws -> [StompFrame] {
        try parse(text, version: version).compactMap {
            if case .frame(let frame) = $0 { return frame }
            return nil
        }
    }

    private func error(_ text: String, version: StompVersion? = .v1_2, limits: StompLimits = .init()) -> StompError? {
        do {
            _ = try parse(text, version: version, limits: limits)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesLFAndCRLFFrames() throws {
        let lf = try frames("SEND\ndestination:/topic/a\n\nhello\0")
        let crlf = try frames("SEND\r\ndestination:/topic/a\r\n\r\nhello\0")
        #expect(lf == crlf)
        #expect(lf.first?.command == .send)
        #expect(lf.first?.headers["destination"] == "/topic/a")
        #expect(lf.first?.bodyText == "hello")
    }

    @Test func reportsHeartbeatsBetweenFrames() throws {
        let results = try parse("\n\r\nSEND\ndestination:/topic/a\n\n\0\n")
        #expect(results.count == 4)
        #expect(results[0] == .heartbeat)
        #expect(results[1] == .heartbeat)
        #expect(results[3] == .heartbeat)
    }

    @Test func readsContentLengthBodiesWithNUL() throws {
        let parsed = try frames("SEND\ndestination:/topic/a\ncontent-length:5\n\na\0b\0c\0")
        #expect(parsed.first?.body == ByteBuffer(bytes: Array("a\0b\0c".utf8)))
    }

    @Test func firstRepeatedHeaderWins() throws {
        let parsed = try frames("SEND\ndestination:/topic/first\ndestination:/topic/second\n\n\0")
        #expect(parsed.first?.headers["destination"] == "/topic/first")
        #expect(parsed.first?.headers.count == 2)
    }

    @Test func unescapesPerVersion() throws {
        let v12 = try frames("SEND\ndestination:/topic/a\nx:a\\cb\\nc\\\\d\\re\n\n\0")
        #expect(v12.first?.headers["x"] == "a:b\nc\\d\re")
        // 1.0 has no escaping: backslashes are literal.
        let v10 = try frames("SEND\ndestination:/topic/a\nx:a\\cb\n\n\0", version: .v1_0)
        #expect(v10.first?.headers["x"] == "a\\cb")
        // CONNECT is never escaped.
        let connect = try frames("CONNECT\nlogin:a\\cb\n\n\0", version: nil)
        #expect(connect.first?.headers["login"] == "a\\cb")
    }

    @Test func rejectsBadEscapes() {
        #expect(error("SEND\nx:a\\tb\n\n\0") == .badEscape("\\t"))
        #expect(error("SEND\nx:a\\rb\n\n\0", version: .v1_1) == .badEscape("\\r"))
        #expect(StompError.badEscape("\\t").message == "bad escape")
    }

    @Test func rejectsMalformedInput() {
        #expect(error("FROB\n\n\0") == .unknownCommand("FROB"))
        #expect(error("SEND\nno colon here\n\n\0") == .malformedFrame("header line without a colon"))
        #expect(error("SEND\ncontent-length:x\n\n\0") == .invalidHeader("content-length", value: "x"))
        #expect(error("SEND\ncontent-length:2\n\nabc\0") == .malformedFrame("no NUL after content-length bytes of body"))
    }

    @Test func enforcesLimits() {
        var limits = StompLimits()
        limits.maxFrameSize = 64
        limits.maxHeaders = 2
        limits.maxHeaderLength = 20
        #expect(error("SEND\na:1\nb:2\nc:3\n\n\0", limits: limits) == .tooManyHeaders(limit: 2))
        #expect(error("SEND\na:\(String(repeating: "x", count: 30))\n\n\0", limits: limits) == .headerTooLong(limit: 20))
        #expect(error("SEND\n\n\(String(repeating: "x", count: 100))", limits: limits) == .frameTooLarge(limit: 64))
        #expect(error("SEND\ncontent-length:1000\n\n", limits: limits) == .frameTooLarge(limit: 64))
        #expect(error("SEND\n\n\(String(repeating: "x", count: 100))\0", limits: limits) == .frameTooLarge(limit: 64))
    }

    @Test func resumesAcrossPartialReads() throws {
        let text = "SEND\ndestination:/topic/a\n\nsplit body\0MESSAGE\n\n\0"
        var parser = StompParser(version: .v1_2)
        var parsed: [StompFrame] = []
        for byte in text.utf8 {
            parser.append(ByteBuffer(bytes: [byte]))
            while case .frame(let frame) = try parser.parseStep() { parsed.append(frame) }
        }
        #expect(parsed.map(\.command) == [.send, .message])
        #expect(parsed.first?.bodyText == "split body")
    }

    @Test func encoderRoundTrips() throws {
        var headers: StompHeaders = ["destination": "/topic/a"]
        headers.add("tricky", "colon: newline\n backslash\\")
        let frame = StompFrame(.message, headers: headers, body: ByteBuffer(string: "body\0with NUL"))
        for version in [StompVersion.v1_1, .v1_2] {
            var parser = StompParser(version: version)
            parser.append(StompEncoder.encode(frame, version: version))
            guard case .frame(let decoded) = try parser.parseStep() else {
                Issue.record("no frame")
                return
            }
            #expect(decoded.headers["tricky"] == "colon: newline\n backslash\\")
            #expect(decoded.body == frame.body)
        }
    }

    /// Fault 1: `content-length:9223372036854775807` trapped in the size arithmetic.
    @Test(arguments: ["9223372036854775807", "9223372036854775806", "4611686018427387904", "1048576"])
    func hugeContentLengthIsRefusedNotTrapped(length: String) {
        var parser = StompParser(version: .v1_2)
        parser.append(ByteBuffer(string: "SEND\ndestination:/topic/a\ncontent-length:\(length)\n\nabc"))
        #expect(throws: StompError.frameTooLarge(limit: StompLimits().maxFrameSize)) { try parser.parseStep() }
        for lenient in ["+3", "-0", "3 3", "0x3", ""] {
            var parser = StompParser(version: .v1_2)
            parser.append(ByteBuffer(string: "SEND\ncontent-length:\(lenient)\n\nabc\0"))
            #expect(throws: StompError.invalidHeader("content-length", value: lenient)) { try parser.parseStep() }
        }
        var tooBig = StompParser(version: .v1_2)
        tooBig.append(ByteBuffer(string: "SEND\ncontent-length:9223372036854775808\n\n"))
        #expect(throws: StompError.invalidHeader("content-length", value: "9223372036854775808")) { try tooBig.parseStep() }
    }

    /// A head that arrives a byte at a time is parsed correctly (its scan resumes where it
    /// stopped) and an unterminated one is refused at the header-length limit.
    @Test func headArrivingByteByByte() throws {
        var parser = StompParser(version: .v1_2)
        let text = "SEND\r\ndestination:/topic/a\r\nx:y\r\n\r\nhi\0"
        var frames: [StompFrame] = []
        for byte in text.utf8 {
            parser.append(ByteBuffer(bytes: [byte]))
            while case .frame(let frame) = try parser.parseStep() { frames.append(frame) }
        }
        #expect(frames.count == 1)
        #expect(frames.first?.headers["x"] == "y")
        #expect(frames.first?.bodyText == "hi")

        // Fault 7's input: 16 KiB of arbitrary bytes and no blank line.
        var endless = StompParser()
        #expect(throws: StompError.headerTooLong(limit: StompLimits().maxHeaderLength)) {
            for _ in 0..<16 {
                endless.append(ByteBuffer(repeating: UInt8(ascii: "A"), count: 1024))
                _ = try endless.parseStep()
            }
        }
    }

    /// A tiny message parsed out of a large read must not pin the read's whole buffer while it
    /// waits in a queue or a ledger.
    @Test func messagesDoNotPinTheirReadBuffer() throws {
        var read = ByteBuffer(string: "SEND\ndestination:/queue/q\n\nhi\0")
        read.writeRepeatingByte(UInt8(ascii: "\n"), count: 1 << 20)
        var parser = StompParser(version: .v1_2)
        parser.append(read)
        guard case .frame(let frame) = try parser.parseStep() else {
            Issue.record("no frame")
            return
        }
        #expect(frame.body.storageCapacity >= 1 << 20)
        let message = HubMessage(id: "1", destination: try #require(Destination("/queue/q")), headers: [:], body: frame.body)
        #expect(message.body.storageCapacity < 1024)
        #expect(String(buffer: message.body) == "hi")
    }
}
