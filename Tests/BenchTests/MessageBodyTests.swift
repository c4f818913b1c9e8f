import NIOCore
import Testing

@testable import Bench

@Suite struct MessageBodyTests {
    @Test func roundTripsAtTheRequestedSize() {
        var buffer = ByteBuffer()
        MessageBody.write(publisher: 7, sequence: 123_456, timestamp: 98_765_432_101, size: 64, into: &buffer)
        #expect(buffer.readableBytes == 64)
        let fields = buffer.withUnsafeReadableBytes { raw in
            MessageBody.findMarker(raw, from: 0, end: raw.count).flatMap { MessageBody.decode(raw, at: $0) }
        }
        #expect(fields == MessageBody.Fields(publisher: 7, sequence: 123_456, timestamp: 98_765_432_101))
    }

    @Test func neverWritesLessThanTheMinimum() {
        var buffer = ByteBuffer()
        MessageBody.write(publisher: 0, sequence: 1, timestamp: 1, size: 1, into: &buffer)
        #expect(buffer.readableBytes == MessageBody.minimumSize)
    }

    @Test func rejectsATruncatedBody() {
        var buffer = ByteBuffer()
        MessageBody.write(publisher: 1, sequence: 2, timestamp: 3, size: 64, into: &buffer)
        let truncated = buffer.getSlice(at: 0, length: MessageBody.minimumSize - 1) ?? ByteBuffer()
        let fields = truncated.withUnsafeReadableBytes { MessageBody.decode($0, at: 0) }
        #expect(fields == nil)
    }
}
