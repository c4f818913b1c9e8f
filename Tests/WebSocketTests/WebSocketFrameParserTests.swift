import NIOCore
import Testing
@testable import WebSocket

@Suite struct WebSocketFrameParserTests {
    private func parseAll(_ bytes: ByteBuffer, maxFrameSize: Int = 1 << 20) throws(WebSocketError) -> [WebSocketFrame] {
        var parser = WebSocketFrameParser(maxFrameSize: maxFrameSize)
        parser.append(bytes)
        var frames: [WebSocketFrame] = []
        while case .frame(let frame) = try parser.parseStep() { frames.append(frame) }
        return frames
    }

    private func error(_ bytes: [UInt8], maxFrameSize: Int = 1 << 20) -> WebSocketError? {
        do {
            _ = try parseAll(ByteBuffer(bytes: bytes), maxFrameSize: maxFrameSize)
            return nil
        } catch {
            return error
        }
    }

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 200_000])
    func unmasksEveryLengthEncoding(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 7) }
        let frames = try parseAll(TestFrames.masked(.binary, payload))
        #expect(frames.count == 1)
        #expect(frames.first?.payload == ByteBuffer(bytes: payload))
        #expect(frames.first?.fin == true)
        #expect(frames.first?.opcode == .binary)
    }

    @Test func parsesByteByByte() throws {
        let wire = TestFrames.masked(.text, Array("Hello, parser".utf8))
        var parser = WebSocketFrameParser(maxFrameSize: 1024)
        var frames: [WebSocketFrame] = []
        for byte in wire.readableBytesView {
            parser.append(ByteBuffer(bytes: [byte]))
            if case .frame(let frame) = try parser.parseStep() { frames.append(frame) }
        }
        #expect(frames.count == 1)
        #expect(String(buffer: frames[0].payload) == "Hello, parser")
    }

    @Test func parsesSeveralFramesInOneRead() throws {
        var wire = TestFrames.masked(.text, Array("a".utf8), fin: false)
        var second = TestFrames.masked(.ping, [1, 2])
        var third = TestFrames.masked(.continuation, Array("b".utf8))
        wire.writeBuffer(&second)
        wire.writeBuffer(&third)
        let frames = try parseAll(wire)
        #expect(frames.map(\.opcode) == [.text, .ping, .continuation])
        #expect(frames.map(\.fin) == [false, true, true])
    }

    /// Issue 8: an idle connection holds no read buffer once its frames are parsed.
    @Test func releasesTheReadBufferOnceConsumed() throws {
        var parser = WebSocketFrameParser(role: .server, maxFrameSize: 1 << 20)
        var read = ByteBufferAllocator().buffer(capacity: 8192)
        var frame = TestFrames.masked(.text, Array("idle soon".utf8))
        read.writeBuffer(&frame)
        parser.append(read)
        guard case .frame = try parser.parseStep() else { Issue.record("no frame"); return }
        guard case .needMoreData = try parser.parseStep() else { Issue.record("more than one frame"); return }
        #expect(parser.bufferCapacity == 0)
    }

    @Test func rejectsUnmaskedClientFrames() {
        #expect(error([0x81, 0x02, 0x68, 0x69]) == .unmaskedFrame)
        #expect(WebSocketError.unmaskedFrame.closeCode == .protocolError)
    }

    @Test func rejectsReservedOpcodes() {
        for opcode: UInt8 in [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF] {
            #expect(error([0x80 | opcode, 0x80, 0, 0, 0, 0]) == .reservedOpcode(opcode))
        }
    }

    @Test func rejectsLengthWithTopBitBeforeThePayloadArrives() {
        let header: [UInt8] = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0]
        #expect(error(header) == .invalidLength)
        #expect(WebSocketError.invalidLength.closeCode == .protocolError)
    }

    @Test func rejectsControlFrameRules() {
        // 126-byte ping: the 16-bit length form is itself the violation.
        #expect(error([0x89, 0xFE, 0x00, 0x7E]) == .controlFrameTooLong)
        // A ping without FIN.
        #expect(error([0x09, 0x80, 0, 0, 0, 0]) == .fragmentedControlFrame)
    }

    @Test func rejectsFramesOverTheLimitFromTheHeader() {
        let header: [UInt8] = [0x82, 0xFF, 0, 0, 0, 0, 0, 0x10, 0, 0]  // 1 MiB, no payload sent
        #expect(error(header, maxFrameSize: 1024) == .frameTooLarge(limit: 1024))
        #expect(WebSocketError.frameTooLarge(limit: 1).closeCode == .messageTooBig)
    }

    @Test func waitsForTheWholeFrame() throws {
        let wire = TestFrames.masked(.binary, [UInt8](repeating: 9, count: 300))
        var parser = WebSocketFrameParser(maxFrameSize: 1024)
        parser.append(wire.getSlice(at: 0, length: 100)!)
        #expect(try parser.parseStep() == .needMoreData)
        parser.append(wire.getSlice(at: 100, length: wire.readableBytes - 100)!)
        guard case .frame(let frame) = try parser.parseStep() else {
            Issue.record("expected a frame")
            return
        }
        #expect(frame.payload.readableBytes == 300)
    }

    @Test func clientRoleParsesServerFrames() throws {
        var parser = WebSocketFrameParser(role: .client, maxFrameSize: 1024)
        parser.append(ByteBuffer(bytes: [0x81, 0x02, 0x68, 0x69]))
        guard case .frame(let frame) = try parser.parseStep() else {
            Issue.record("expected a frame")
            return
        }
        #expect(String(buffer: frame.payload) == "hi")
    }

    @Test func maskingRoundTripsAtAnyOffset() {
        let payload = (0..<37).map { UInt8($0) }
        for offset in 0..<4 {
            var masked = [UInt8](repeating: 0, count: payload.count)
            var unmasked = [UInt8](repeating: 0, count: payload.count)
            payload.withUnsafeBytes { source in
                masked.withUnsafeMutableBytes { WebSocketMask.apply(key: 0xDEAD_BEEF, from: source, to: $0, startingAt: offset) }
            }
            masked.withUnsafeBytes { source in
                unmasked.withUnsafeMutableBytes { WebSocketMask.apply(key: 0xDEAD_BEEF, from: source, to: $0, startingAt: offset) }
            }
            #expect(unmasked == payload)
            #expect(masked != payload)
        }
    }

    /// A client whose every TCP read ends inside a payload never leaves the parser between
    /// frames: the bytes it already consumed must still be dropped, or the buffer holds
    /// everything the connection ever received.
    @Test func dropsConsumedBytesWhenEveryReadEndsInsideAPayload() throws {
        let frame = TestFrames.masked(.binary, [UInt8](repeating: 0x2A, count: 1000))
        var wire = ByteBuffer()
        for _ in 0..<8_000 {
            var copy = frame
            wire.writeBuffer(&copy)
        }
        var parser = WebSocketFrameParser(maxFrameSize: 4096)
        var frames = 0
        // Reads of one frame's length, shifted by half a frame: each ends in the middle of a payload.
        var readLength = frame.readableBytes / 2
        while let chunk = wire.readSlice(length: min(readLength, wire.readableBytes)), chunk.readableBytes > 0 {
            readLength = frame.readableBytes
            parser.append(chunk)
            while case .frame = try parser.parseStep() { frames += 1 }
            #expect(parser.bufferCapacity < 1 << 20, "the parser holds \(parser.bufferCapacity) bytes")
            if parser.bufferCapacity >= 1 << 20 { return }
        }
        #expect(frames == 8_000)
    }
}
