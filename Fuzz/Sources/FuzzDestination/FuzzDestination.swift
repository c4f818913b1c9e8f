import FuzzSupport
@testable import Hub

// Input: a subscription pattern, a newline, then a publish destination (UTF-8, replacement
// characters for anything else), e.g. "/topic/#.#.x\n/topic/a.b.x".
//
// Asserts: a parsed destination prints as its text, has no empty word, and carries wildcards
// only when allowed (topics only, whole words); a destination that parses without wildcards
// parses the same with them; the wildcard matcher agrees with a plain dynamic-programming
// matcher written here; and it stays within its step budget, 2 × (pattern words + 1) ×
// (destination words + 1), so a super-linear case traps.
//
// `Destination.match(_:_:steps:)` is internal: `@testable import` reaches it because the fuzz
// build is a debug build, which compiles every module with testing enabled.

private func check(_ destination: Destination, text: String, allowWildcards: Bool) {
    fuzzCheck(destination.description == text, "\(text) prints as \(destination.description)")
    fuzzCheck(!destination.words.isEmpty && !destination.words.contains(where: \.isEmpty), "empty word in \(text)")
    fuzzCheck(destination.words.joined(separator: ".") == destination.name, "words do not make up the name of \(text)")
    if destination.isPattern {
        fuzzCheck(allowWildcards && destination.kind == .topic, "wildcard accepted where not allowed: \(text)")
    }
    for word in destination.words where word != "*" && word != "#" {
        fuzzCheck(!word.contains("*") && !word.contains("#"), "wildcard inside a word: \(text)")
    }
}

/// Whether `pattern` matches `words`, by a table of suffix matches: `table[i][j]` tells whether
/// pattern words from `i` match destination words from `j`. Quadratic, obviously right.
private func referenceMatch(_ pattern: [Substring], _ words: [Substring]) -> Bool {
    var table = [[Bool]](repeating: [Bool](repeating: false, count: words.count + 1), count: pattern.count + 1)
    table[pattern.count][words.count] = true
    for i in stride(from: pattern.count - 1, through: 0, by: -1) {
        for j in stride(from: words.count, through: 0, by: -1) {
            let hasWord = j < words.count
            switch pattern[i] {
            case "#": table[i][j] = table[i + 1][j] || (hasWord && table[i][j + 1])
            case "*": table[i][j] = hasWord && table[i + 1][j + 1]
            default: table[i][j] = hasWord && pattern[i] == words[j] && table[i + 1][j + 1]
            }
        }
    }
    return table[0][0]
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    var input = FuzzInput(data, size)
    let patternText = String(decoding: input.bytes(upTo: UInt8(ascii: "\n")), as: UTF8.self)
    let destinationText = String(decoding: input.rest(), as: UTF8.self)

    let pattern = Destination(patternText, allowWildcards: true)
    if let pattern { check(pattern, text: patternText, allowWildcards: true) }
    if let plain = Destination(patternText) {
        check(plain, text: patternText, allowWildcards: false)
        fuzzCheck(plain == pattern, "\(patternText) parses differently when wildcards are allowed")
    }
    let destination = Destination(destinationText)
    if let destination { check(destination, text: destinationText, allowWildcards: false) }
    // The same text as a `perigee-since` position (`TopicPosition`): what parses prints as a
    // text that parses to the same position, and no `:` hides in an epoch.
    if let position = TopicPosition(destinationText) {
        fuzzCheck(TopicPosition(position.description) == position, "\(destinationText) does not survive printing as \(position.description)")
        fuzzCheck(!position.epoch.contains(":") && position.epoch.utf8.count <= 32, "bad epoch in \(destinationText)")
    }

    guard let pattern, let destination else { return 0 }
    var steps = 0
    let matched = Destination.match(pattern.words, destination.words, steps: &steps)
    let budget = 2 * (pattern.words.count + 1) * (destination.words.count + 1)
    fuzzCheck(steps <= budget, "\(steps) steps, budget \(budget): \(patternText) against \(destinationText)")
    fuzzCheck(matched == referenceMatch(pattern.words, destination.words), "\(patternText) against \(destinationText): matcher says \(matched)")
    fuzzCheck(pattern.matches(destination) == (matched && pattern.kind == destination.kind), "matches(_:) disagrees with match")
    return 0
}

runLibFuzzer(fuzz)
