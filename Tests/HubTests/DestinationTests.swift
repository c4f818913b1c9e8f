import Testing
@testable import Hub

@Suite struct DestinationTests {
    private func matches(_ pattern: String, _ name: String) -> Bool {
        guard let pattern = Destination(pattern, allowWildcards: true), let name = Destination(name) else { return false }
        return pattern.matches(name)
    }

    @Test func parsesTopicsAndQueues() {
        #expect(Destination("/topic/shouts")?.kind == .topic)
        #expect(Destination("/queue/jobs")?.kind == .queue)
        #expect(Destination("/exchange/x") == nil)
        #expect(Destination("/topic/") == nil)
        #expect(Destination("/topic/a..b") == nil)
        #expect(Destination("/topic/a.*") == nil)  // wildcards only where allowed
        #expect(Destination("/queue/a.*", allowWildcards: true) == nil)  // and never on queues
        #expect(Destination("/topic/a*", allowWildcards: true) == nil)
    }

    @Test func matchesRabbitMQStyleWildcards() {
        #expect(matches("/topic/stocks.*", "/topic/stocks.ibm"))
        #expect(!matches("/topic/stocks.*", "/topic/stocks"))
        #expect(!matches("/topic/stocks.*", "/topic/stocks.nyse.ibm"))
        #expect(matches("/topic/stocks.#", "/topic/stocks"))
        #expect(matches("/topic/stocks.#", "/topic/stocks.nyse.ibm"))
        #expect(matches("/topic/#", "/topic/anything.at.all"))
        #expect(matches("/topic/*.nyse.#", "/topic/stocks.nyse"))
        #expect(!matches("/topic/*.nyse.#", "/topic/stocks.lse.ibm"))
        #expect(matches("/topic/a.#.z", "/topic/a.b.c.z"))
        #expect(!matches("/topic/stocks.*", "/queue/stocks.ibm"))
    }

    /// Issue 7, fault 2: `/topic/#.#.#.…#.x` (255 bytes) against a 4–6-word topic took
    /// 10^8–10^11 steps with the backtracking matcher; the automaton takes words × positions.
    @Test func hashChainPatternStaysLinear() throws {
        let hashes = Array(repeating: "#", count: 126).joined(separator: ".") + ".x"
        let pattern = try #require(Destination("/topic/" + hashes, allowWildcards: true))
        #expect(pattern.name.utf8.count <= 255)
        for topic in ["a.b.c.d", "a.b.c.d.e", "a.b.c.d.e.f", "a.b.c.d.e.x"] {
            let destination = try #require(Destination("/topic/" + topic))
            var steps = 0
            let matched = Destination.match(pattern.words, destination.words, steps: &steps)
            #expect(matched == topic.hasSuffix(".x"))
            #expect(steps <= 2 * (pattern.words.count + 1) * (destination.words.count + 1))
        }
        #expect(matches("/topic/#.#.x", "/topic/x"))
        #expect(matches("/topic/#.*.#", "/topic/a"))
        #expect(!matches("/topic/*.#.*", "/topic/a"))
        #expect(matches("/topic/*.#.*", "/topic/a.b"))
    }

    @Test func routerFindsExactAndPatternSubscribers() throws {
        var router = TopicRouter<Int>()
        router.add(1, for: try #require(Destination("/topic/stocks.ibm")))
        router.add(2, for: try #require(Destination("/topic/stocks.*", allowWildcards: true)))
        router.add(3, for: try #require(Destination("/topic/news")))
        #expect(Set(router.subscribers(of: try #require(Destination("/topic/stocks.ibm")))) == [1, 2])
        #expect(router.subscribers(of: try #require(Destination("/topic/stocks.aapl"))) == [2])
        router.remove(2)
        #expect(router.subscribers(of: try #require(Destination("/topic/stocks.aapl"))).isEmpty)
        #expect(router.count == 2)
    }

    @Test func negotiatesVersions() {
        #expect(StompVersion.negotiate(acceptVersion: nil) == .v1_0)
        #expect(StompVersion.negotiate(acceptVersion: "1.0,1.1,1.2") == .v1_2)
        #expect(StompVersion.negotiate(acceptVersion: "1.1") == .v1_1)
        #expect(StompVersion.negotiate(acceptVersion: "2.0") == nil)
    }
}
