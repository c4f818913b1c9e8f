import NIOCore
import Testing

@testable import Bench

@Suite struct StompStreamReaderTests {
    @Test func splitsFramesAcrossReads() {
        var reader = StompStreamReader()
        reader.append(ByteBuffer(string: "\nRECEIPT\nreceipt-id:r42\n\n\0MESS"))
        let receipt = reader.next()
        #expect(receipt.map(StompStreamReader.kind) == .receipt)
        #expect(receipt.flatMap(StompStreamReader.receiptNumber) == 42)
        #expect(reader.next() == nil)
        reader.append(ByteBuffer(string: "AGE\ndestination:/topic/a\n\nbody\0\n"))
        let message = reader.next()
        #expect(message.map(StompStreamReader.kind) == .message)
        #expect(message.map { String(buffer: $0) } == "MESSAGE\ndestination:/topic/a\n\nbody")
        #expect(reader.next() == nil)
    }

    @Test func reportsTheErrorMessageHeader() {
        var reader = StompStreamReader()
        reader.append(ByteBuffer(string: "ERROR\nmessage:access denied\n\n\0"))
        let frame = reader.next()
        #expect(frame.map(StompStreamReader.errorText) == "ERROR access denied")
    }
}
