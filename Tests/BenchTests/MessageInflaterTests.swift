import NIOCore
import Testing

@testable import Bench
@testable import WebSocket

@Suite struct MessageInflaterTests {
    private func compressor(noContextTakeover: Bool) throws -> PerMessageDeflater {
        try #require(PerMessageDeflater(windowBits: 15, noContextTakeover: noContextTakeover, level: 6, memoryLevel: 8))
    }

    @Test(arguments: [false, true])
    func inflatesWhatTheServerCompresses(noContextTakeover: Bool) throws {
        let deflater = try compressor(noContextTakeover: noContextTakeover)
        let inflater = try #require(MessageInflater(resetsPerMessage: noContextTakeover))
        for index in 0..<3 {
            let text = "MESSAGE\ndestination:/topic/a\nmessage-id:\(index)\n\n" + String(repeating: "x", count: 300) + "\0"
            let compressed = deflater.compress(ByteBuffer(string: text), allocator: ByteBufferAllocator())
            #expect(compressed.readableBytes < text.utf8.count)
            let inflated = try #require(inflater.inflate(compressed, limit: 1 << 20))
            #expect(String(buffer: inflated) == text)
        }
    }

    @Test func refusesAMessageOverTheLimit() throws {
        let deflater = try compressor(noContextTakeover: true)
        let inflater = try #require(MessageInflater(resetsPerMessage: true))
        let compressed = deflater.compress(ByteBuffer(string: String(repeating: "y", count: 10_000)), allocator: ByteBufferAllocator())
        #expect(inflater.inflate(compressed, limit: 1000) == nil)
    }
}
