@testable import Gateway
import Hub
import Testing

/// Issue 11: `channels:` globs decide each topic's `ChannelPolicy`, the first in file order.
@Suite struct ChannelRulesTests {
    private static func destination(_ text: String) throws -> Destination {
        try #require(Destination(text, allowWildcards: true))
    }

    @Test func theFirstMatchingGlobInFileOrderWins() throws {
        let shouts = ChannelPolicy(history: 100, historyTTLSeconds: 3600, presence: true, joinLeave: true)
        let chat = ChannelPolicy(history: 10)
        let rest = ChannelPolicy(history: 1)
        let rules = ChannelRules([
            .init(glob: "/topic/chat.*", policy: chat),
            .init(glob: "/topic/shouts", policy: shouts),
            .init(glob: "/topic/chat.lobby", policy: ChannelPolicy(presence: true)),
            .init(glob: "/topic/**", policy: rest),
        ])
        #expect(rules.policy(for: try Self.destination("/topic/shouts")) == shouts)
        // A wildcard listed before a literal wins over it.
        #expect(rules.policy(for: try Self.destination("/topic/chat.lobby")) == chat)
        #expect(rules.policy(for: try Self.destination("/topic/chat.x")) == chat)
        #expect(rules.policy(for: try Self.destination("/topic/other")) == rest)
        // Queues and patterns keep nothing, whatever the globs say.
        #expect(rules.policy(for: try Self.destination("/queue/shouts")) == .none)
        #expect(rules.policy(for: try Self.destination("/topic/chat.#")) == .none)
        #expect(ChannelRules.none.policy(for: try Self.destination("/topic/shouts")) == .none)
    }

    @Test func aLiteralBeforeAWildcardWins() throws {
        let rules = ChannelRules([
            .init(glob: "/topic/a", policy: ChannelPolicy(history: 5)),
            .init(glob: "/topic/*", policy: ChannelPolicy(history: 7)),
        ])
        #expect(rules.policy(for: try Self.destination("/topic/a")).history == 5)
        #expect(rules.policy(for: try Self.destination("/topic/b")).history == 7)
        // An empty entry keeps a topic out of a later, broader rule.
        let excluded = ChannelRules([
            .init(glob: "/topic/secret", policy: .none),
            .init(glob: "/topic/**", policy: ChannelPolicy(history: 7)),
        ])
        #expect(excluded.policy(for: try Self.destination("/topic/secret")) == .none)
        #expect(excluded.policyFunction(try Self.destination("/topic/open")).history == 7)
    }

    @Test func onlyGlobsThatCanMatchATopicAreAccepted() {
        for glob in ["/topic/shouts", "/topic/**", "/**", "/*/shouts", "/t*/x", "/topic/chat.*"] {
            #expect(ChannelRules.canMatchTopic(glob), "\(glob)")
        }
        for glob in ["/queue/jobs", "/queue/**", "/topic", "/t*", "/", "/x/**", "/topics/a"] {
            #expect(!ChannelRules.canMatchTopic(glob), "\(glob)")
        }
    }

    @Test func settingChannelsSetsTheHubPolicy() throws {
        var configuration = GatewayConfiguration()
        #expect(configuration.hub.channelPolicy(try Self.destination("/topic/shouts")) == .none)
        configuration.channels = ChannelRules([.init(glob: "/topic/shouts", policy: ChannelPolicy(history: 3))])
        #expect(configuration.hub.channelPolicy(try Self.destination("/topic/shouts")).history == 3)
    }
}
