import NIOCore
import Testing
@testable import WebSocket

@Suite struct WebSocketConnectionStateMachineTests {
    private func machine(maxMessageSize: Int = 1 << 16, deflate: PerMessageDeflateParameters? = nil) -> WebSocketConnectionStateMachine {
        WebSocketConnectionStateMachine(maxMessageSize: maxMessageSize, deflate: deflate)
    }

    @Test func deliversSingleFrameMessages() {
        var machine = machine()
        #expect(machine.receive(TestFrames.text("hi")) == .deliver(.text("hi")))
        #expect(
            machine.receive(TestFrames.frame(.binary, [0, 1, 2]))
                == .deliver(WebSocketMessage(kind: .binary, data: ByteBuffer(bytes: [0, 1, 2])))
        )
    }

    @Test func reassemblesFragmentsWithControlFramesInterleaved() {
        var machine = machine()
        #expect(machine.receive(TestFrames.text("Hel", fin: false)) == .none)
        #expect(machine.receive(TestFrames.frame(.ping, [7])) == .sendPong(ByteBuffer(bytes: [7])))
        #expect(machine.receive(TestFrames.frame(.continuation, Array("lo".utf8), fin: false)) == .none)
        #expect(machine.receive(TestFrames.frame(.pong, [])) == .none)
        #expect(machine.receive(TestFrames.frame(.continuation, Array(", world".utf8))) == .deliver(.text("Hello, world")))
    }

    @Test func rejectsBrokenFragmentation() {
        var first = machine()
        #expect(first.receive(TestFrames.frame(.continuation, [1])) == .fail(.unexpectedContinuation))
        #expect(first.state == .closeSent)

        var second = machine()
        _ = second.receive(TestFrames.text("a", fin: false))
        #expect(second.receive(TestFrames.text("b")) == .fail(.expectedContinuation))
    }

    @Test func failsFastOnInvalidUTF8MidMessage() {
        var machine = machine()
        #expect(machine.receive(TestFrames.frame(.text, Array("κόσμε".utf8), fin: false)) == .none)
        // The second fragment carries an invalid sequence: fail now, not at the final frame.
        let action = machine.receive(TestFrames.frame(.continuation, [0xED, 0xA0, 0x80], fin: false))
        #expect(action == .fail(.invalidUTF8))
        #expect(WebSocketError.invalidUTF8.closeCode == .invalidPayloadData)
    }

    @Test func rejectsTextEndingMidScalar() {
        var machine = machine()
        _ = machine.receive(TestFrames.frame(.text, [0xCE], fin: false))
        #expect(machine.receive(TestFrames.frame(.continuation, [])) == .fail(.invalidUTF8))
    }

    @Test func rejectsReservedBits() {
        var machine = machine()
        var frame = TestFrames.text("x")
        frame.rsv2 = true
        #expect(machine.receive(frame) == .fail(.reservedBitsSet))
        var withoutDeflate = self.machine()
        #expect(withoutDeflate.receive(TestFrames.frame(.text, [1], rsv1: true)) == .fail(.reservedBitsSet))
    }

    @Test func enforcesTheMessageLimitAcrossFragments() {
        var machine = machine(maxMessageSize: 10)
        #expect(machine.receive(TestFrames.frame(.binary, [UInt8](repeating: 1, count: 6), fin: false)) == .none)
        #expect(
            machine.receive(TestFrames.frame(.continuation, [UInt8](repeating: 1, count: 6)))
                == .fail(.messageTooLarge(limit: 10))
        )
    }

    @Test func echoesValidCloseCodes() {
        for code: UInt16 in [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999] {
            var machine = machine()
            let action = machine.receive(TestFrames.close(code, Array("bye".utf8)))
            #expect(action == .replyToClose(code: WebSocketCloseCode(rawValue: code), reason: ""))
            #expect(machine.state == .closed)
            #expect(machine.peerCloseCode?.rawValue == code)
        }
        var empty = machine()
        #expect(empty.receive(TestFrames.frame(.close, [])) == .replyToClose(code: nil, reason: ""))
    }

    @Test func rejectsInvalidClosePayloads() {
        for code: UInt16 in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535] {
            var machine = machine()
            #expect(machine.receive(TestFrames.close(code)) == .fail(.invalidCloseCode(code)))
        }
        var oneByte = machine()
        #expect(oneByte.receive(TestFrames.frame(.close, [3])) == .fail(.invalidClosePayload))
        var badReason = machine()
        #expect(badReason.receive(TestFrames.close(1000, [0xFF, 0xFE])) == .fail(.invalidCloseReason))
        #expect(WebSocketError.invalidCloseReason.closeCode == .invalidPayloadData)
    }

    @Test func ourCloseWaitsForThePeersClose() {
        var machine = machine()
        let started = machine.startClosing()
        let startedAgain = machine.startClosing()
        #expect(started)
        #expect(!startedAgain)
        #expect(machine.receive(TestFrames.text("late data")) == .none)
        #expect(machine.receive(TestFrames.close(1000)) == .closeCompleted)
        #expect(machine.state == .closed)
    }

    @Test func inflatesCompressedMessagesInFragments() throws {
        let parameters = try #require(
            PerMessageDeflateNegotiation.negotiate(
                offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
                configuration: .init()
            )
        )
        let text = String(repeating: "compress me, compress me again. ", count: 50)
        let deflater = try #require(PerMessageDeflater(windowBits: 15, noContextTakeover: false, level: 6, memoryLevel: 8))
        let compressed = deflater.compress(ByteBuffer(string: text), allocator: .init())
        #expect(compressed.readableBytes < text.utf8.count / 4)
        let bytes = Array(compressed.readableBytesView)
        let half = bytes.count / 2

        var machine = machine(deflate: parameters)
        #expect(machine.receive(TestFrames.frame(.text, Array(bytes[..<half]), fin: false, rsv1: true)) == .none)
        #expect(machine.receive(TestFrames.frame(.continuation, Array(bytes[half...]))) == .deliver(.text(text)))

        // Context takeover: the second message may refer to the first one's window.
        let again = deflater.compress(ByteBuffer(string: text), allocator: .init())
        #expect(again.readableBytes < compressed.readableBytes)
        #expect(machine.receive(TestFrames.frame(.text, Array(again.readableBytesView), rsv1: true)) == .deliver(.text(text)))
    }

    @Test func stopsADeflateBombAtTheLimit() throws {
        let parameters = try #require(
            PerMessageDeflateNegotiation.negotiate(
                offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
                configuration: .init()
            )
        )
        let deflater = try #require(PerMessageDeflater(windowBits: 15, noContextTakeover: true, level: 9, memoryLevel: 9))
        let bomb = deflater.compress(ByteBuffer(repeating: 0, count: 8 << 20), allocator: .init())
        #expect(bomb.readableBytes < 16 * 1024)  // 8 MiB of zeros deflate to a few KiB
        var machine = machine(maxMessageSize: 1 << 20, deflate: parameters)
        #expect(machine.receive(TestFrames.frame(.binary, Array(bomb.readableBytesView), rsv1: true)) == .fail(.messageTooLarge(limit: 1 << 20)))
    }

    @Test func rejectsGarbageCompressedData() throws {
        let parameters = try #require(
            PerMessageDeflateNegotiation.negotiate(
                offers: [WebSocketExtensionOffer(name: "permessage-deflate", parameters: [])],
                configuration: .init()
            )
        )
        var machine = machine(deflate: parameters)
        #expect(machine.receive(TestFrames.frame(.binary, [0xFF, 0xFF, 0xFF, 0xFF], rsv1: true)) == .fail(.invalidCompressedData))
    }
}
