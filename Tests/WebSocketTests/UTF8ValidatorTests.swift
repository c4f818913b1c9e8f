import Testing
@testable import WebSocket

@Suite struct UTF8ValidatorTests {
    private func isValid(_ bytes: [UInt8]) -> Bool {
        var validator = UTF8Validator()
        return validator.feed(bytes) && validator.isAtBoundary
    }

    @Test func acceptsValidText() {
        #expect(isValid(Array("hello, world".utf8)))
        #expect(isValid(Array("κόσμε 😀 \u{10FFFF} \u{FFFF}".utf8)))
        #expect(isValid([]))
        #expect(isValid(Array(String(repeating: "ascii only ", count: 40).utf8)))
    }

    @Test(arguments: [
        [0xC0, 0xAF] as [UInt8],  // overlong '/'
        [0xE0, 0x80, 0xAF],  // overlong 3-byte
        [0xED, 0xA0, 0x80],  // surrogate U+D800
        [0xF4, 0x90, 0x80, 0x80],  // above U+10FFFF
        [0xF5, 0x80, 0x80, 0x80],
        [0xFF],
        [0x80],  // lone continuation
        [0xCE, 0xBA, 0xE1],  // truncated at the end
    ])
    func rejectsInvalidText(bytes: [UInt8]) {
        #expect(!isValid(bytes))
    }

    @Test func failsFastAcrossPieces() {
        var validator = UTF8Validator()
        let first = validator.feed([0xCE, 0xBA, 0xE1])  // valid so far, mid-scalar
        #expect(first)
        #expect(!validator.isAtBoundary)
        let second = validator.feed([0xBD])
        #expect(second)
        let third = validator.feed([0x41])  // a scalar's third byte must be a continuation byte
        #expect(!third)
    }

    @Test func splitsAnywhere() {
        let bytes = Array("aé€😀z".utf8)
        for split in 0...bytes.count {
            var validator = UTF8Validator()
            let head = validator.feed(Array(bytes[..<split]))
            let tail = validator.feed(Array(bytes[split...]))
            #expect(head && tail)
            #expect(validator.isAtBoundary)
        }
    }
}
