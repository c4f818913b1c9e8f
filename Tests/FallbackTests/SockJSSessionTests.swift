import NIOCore
import NIOEmbedded
import Testing
@testable import Fallback

private final class FakeReceiver: SockJSReceiver {
    var frames: [SockJSFrame] = []
    var ended = false
    var isWritable = true
    let streaming: Bool

    init(streaming: Bool) { self.streaming = streaming }

    func deliver(_ frame: SockJSFrame) -> Bool {
        guard !ended else { return false }
        frames.append(frame)
        if case .close = frame { ended = true }
        if !streaming { ended = true }
        return !ended
    }

    func end() { ended = true }
}

private final class Recorder: SockJSApplication {
    var opened = 0
    var received: [String] = []
    var closed = 0
    var onOpen: ((SockJSSession) -> Void)?

    func sockJSSessionDidOpen(_ session: SockJSSession) {
        opened += 1
        onOpen?(session)
    }

    func sockJSSession(_ session: SockJSSession, didReceive message: String) { received.append(message) }

    func sockJSSessionDidClose(_ session: SockJSSession) { closed += 1 }
}

@Suite struct SockJSSessionTests {
    private func makeSession(
        _ configure: (inout SockJSConfiguration) -> Void = { _ in }
    ) -> (SockJSSession, Recorder, EmbeddedEventLoop, () -> Int) {
        let loop = EmbeddedEventLoop()
        var configuration = SockJSConfiguration()
        configure(&configuration)
        let recorder = Recorder()
        var finished = 0
        let session = SockJSSession(id: "s", eventLoop: loop, configuration: configuration, application: recorder) { _ in finished += 1 }
        return (session, recorder, loop, { finished })
    }

    @Test func opensOnTheFirstReceiverThenTellsTheApplication() {
        let (session, recorder, _, _) = makeSession()
        #expect(recorder.opened == 0)
        let poll = FakeReceiver(streaming: false)
        session.attach(poll)
        #expect(poll.frames == [.open])
        #expect(recorder.opened == 1)
        #expect(!session.hasReceiver)
    }

    @Test func queuesBetweenPollsInOrder() {
        let (session, _, loop, _) = makeSession()
        session.attach(FakeReceiver(streaming: false))
        for index in 0..<3 { session.send("m\(index)") }
        loop.run()
        let next = FakeReceiver(streaming: false)
        session.attach(next)
        #expect(next.frames == [.messages(["m0", "m1", "m2"])])
        // A poll with nothing queued waits for the next message.
        let waiting = FakeReceiver(streaming: false)
        session.attach(waiting)
        #expect(waiting.frames.isEmpty)
        session.send("later")
        loop.run()
        #expect(waiting.frames == [.messages(["later"])])
    }

    @Test func streamsBatchesPerTick() {
        let (session, _, loop, _) = makeSession()
        let stream = FakeReceiver(streaming: true)
        session.attach(stream)
        session.send("a")
        session.send("b")
        loop.run()
        session.send("c")
        loop.run()
        #expect(stream.frames == [.open, .messages(["a", "b"]), .messages(["c"])])
    }

    @Test func refusesASecondReceiver() {
        let (session, _, loop, _) = makeSession()
        let first = FakeReceiver(streaming: true)
        session.attach(first)
        let second = FakeReceiver(streaming: true)
        session.attach(second)
        #expect(second.frames == [.anotherConnectionOpen])
        #expect(second.ended)
        session.send("still first")
        loop.run()
        #expect(first.frames.last == .messages(["still first"]))
    }

    @Test func heartbeatsAQuietReceiver() {
        let (session, _, loop, _) = makeSession { $0.heartbeatDelay = .seconds(25) }
        let stream = FakeReceiver(streaming: true)
        session.attach(stream)
        loop.advanceTime(by: .seconds(24))
        #expect(stream.frames == [.open])
        loop.advanceTime(by: .seconds(1))
        #expect(stream.frames == [.open, .heartbeat])
        loop.advanceTime(by: .seconds(25))
        #expect(stream.frames == [.open, .heartbeat, .heartbeat])
    }

    @Test func closesAClientThatStopsPolling() {
        let (session, recorder, loop, finished) = makeSession { $0.disconnectDelay = .seconds(5) }
        session.attach(FakeReceiver(streaming: false))
        session.send("never collected")
        loop.advanceTime(by: .seconds(4))
        #expect(recorder.closed == 0)
        loop.advanceTime(by: .seconds(1))
        #expect(recorder.closed == 1)
        #expect(finished() == 1)
        #expect(session.isClosed)
    }

    @Test func applicationCloseIsShownToLateRequests() {
        let (session, recorder, loop, finished) = makeSession { $0.disconnectDelay = .seconds(5) }
        recorder.onOpen = { $0.close() }
        let first = FakeReceiver(streaming: true)
        session.attach(first)
        #expect(first.frames == [.open, .goAway])
        #expect(first.ended)
        let late = FakeReceiver(streaming: false)
        session.attach(late)
        #expect(late.frames == [.goAway])
        #expect(recorder.closed == 1)
        loop.advanceTime(by: .seconds(5))
        #expect(finished() == 1)
    }

    @Test func messagesSentBeforeClosingArriveBeforeTheCloseFrame() {
        let (session, _, _, _) = makeSession()
        let stream = FakeReceiver(streaming: true)
        session.attach(stream)
        session.send("ERROR frame")
        session.close()
        #expect(stream.frames == [.open, .messages(["ERROR frame"]), .goAway])

        // Between polls: the next poll gets the messages, the one after it the close frame.
        let (polled, _, _, _) = makeSession()
        polled.attach(FakeReceiver(streaming: false))
        polled.send("RECEIPT frame")
        polled.close()
        let first = FakeReceiver(streaming: false)
        polled.attach(first)
        #expect(first.frames == [.messages(["RECEIPT frame"])])
        let second = FakeReceiver(streaming: false)
        polled.attach(second)
        #expect(second.frames == [.goAway])
    }

    /// Issue 10: a drain waits while a session owes its client the close frame.
    @Test func owesAFarewellUntilAPollCarriesTheCloseFrame() {
        let (session, _, loop, _) = makeSession()
        session.attach(FakeReceiver(streaming: false))
        #expect(session.awaitsFarewell, "open")
        session.send("ERROR")
        loop.run()
        session.close(code: 3000, reason: "Go away!")
        #expect(session.awaitsFarewell, "nobody polled since")
        let first = FakeReceiver(streaming: false)
        session.attach(first)
        #expect(first.frames == [.messages([SockJSMessage("ERROR")])])
        #expect(session.awaitsFarewell, "the poll carried the message, not the close frame")
        let second = FakeReceiver(streaming: false)
        session.attach(second)
        #expect(second.frames == [.close(code: 3000, reason: "Go away!")])
        #expect(!session.awaitsFarewell)

        let (streamed, _, _, _) = makeSession()
        let stream = FakeReceiver(streaming: true)
        streamed.attach(stream)
        streamed.close(code: 3000, reason: "Go away!")
        #expect(!streamed.awaitsFarewell, "a stream carries the close frame at once")

        let (dropped, _, _, _) = makeSession()
        let lost = FakeReceiver(streaming: true)
        dropped.attach(lost)
        dropped.clientAborted(lost)
        #expect(!dropped.awaitsFarewell, "a client that left is owed nothing")
    }

    @Test func theRegistryClosesEverySessionAndAdmitsNoMore() throws {
        let loop = EmbeddedEventLoop()
        let registry = SockJSSessionRegistry()
        let configuration = SockJSConfiguration()
        var sessions: [SockJSSession] = []
        for id in ["a", "b"] {
            guard case .here(let session, created: true) = registry.findOrCreate(id, on: loop, address: "x", configuration: configuration, makeApplication: { Recorder() }) else {
                Issue.record("not created")
                return
            }
            session.attach(FakeReceiver(streaming: false))
            sessions.append(session)
        }
        sessions[0].close()
        let closed = registry.goAway(on: loop)
        loop.run()
        #expect(try closed.wait() == 1, "b; a was closed already")
        #expect(sessions.allSatisfy { $0.isClosed })
        let owed = registry.awaitingFarewell(on: loop)
        loop.run()
        #expect(try owed.wait() == 2, "neither has polled since")
        #expect(registry.admissionRefusal(address: "y", configuration: configuration)?.hasPrefix("server shutting down") == true)
        if case .here = registry.findOrCreate("c", on: loop, address: "y", configuration: configuration, makeApplication: { Recorder() }) {
            Issue.record("a session opened during a drain")
        }
    }

    @Test func anAbortedReceiverInterruptsTheSession() {
        let (session, recorder, _, _) = makeSession()
        let stream = FakeReceiver(streaming: true)
        session.attach(stream)
        session.clientAborted(stream)
        #expect(recorder.closed == 1)
        let next = FakeReceiver(streaming: false)
        session.attach(next)
        #expect(next.frames == [.interrupted])
    }

    @Test func aQueueOverTheLimitClosesTheSession() {
        let (session, recorder, _, _) = makeSession { $0.maxQueuedBytes = 1_000 }
        session.attach(FakeReceiver(streaming: false))
        for _ in 0..<20 { session.send(String(repeating: "x", count: 100)) }
        #expect(session.isClosed)
        #expect(recorder.closed == 1)
        let next = FakeReceiver(streaming: false)
        session.attach(next)
        #expect(next.frames == [.close(code: 1002, reason: "Connection interrupted")])
    }

    @Test func deliversClientMessagesInOrder() {
        let (session, recorder, _, _) = makeSession()
        session.attach(FakeReceiver(streaming: true))
        session.receive(["a", "b"])
        session.receive(["c"])
        #expect(recorder.received == ["a", "b", "c"])
    }
}

@Suite struct SockJSFramingTests {
    @Test func encodesFrames() {
        #expect(SockJSFrame.open.encoded == "o")
        #expect(SockJSFrame.heartbeat.encoded == "h")
        #expect(SockJSFrame.messages(["a", "b\"c"]).encoded == #"a["a","b\"c"]"#)
        #expect(SockJSFrame.goAway.encoded == #"c[3000,"Go away!"]"#)
    }

    @Test func escapesWhatTheProtocolRequires() {
        #expect(SockJSJSON.quote("  \u{0}\n\r ") == #""  \u0000\n\r ""#)
        #expect(SockJSJSON.quote("\u{200c}\u{2028}\u{2060}\u{fff0}") == #""\u200c\u2028\u2060\ufff0""#)
        #expect(SockJSJSON.quote("😀") == #""\ud83d\ude00""#)
        #expect(SockJSJSON.quote("héllo") == "\"héllo\"")
    }

    /// Issue 7, fault 3: client text embedded in htmlfile and jsonp never carries raw markup.
    @Test func quotesMarkupForScriptBlocks() {
        let attack = "</script><img src=x onerror=alert(1)>&amp;"
        let quoted = SockJSJSON.quote(attack)
        #expect(!quoted.contains("<") && !quoted.contains(">") && !quoted.contains("&"))
        #expect(quoted.contains(#"\u003c/script\u003e"#))
        for kind in [SockJSReceiverKind.htmlFile(callback: "cb"), .jsonp(callback: "cb")] {
            let wrapped = kind.wrap(.messages([SockJSMessage(attack)]))
            #expect(!wrapped.contains("<img"))
            #expect(wrapped.components(separatedBy: "</script>").count <= 2)
        }
    }

    /// Found by FuzzSockJS: a `%` followed by a combining mark is one Character with it; the
    /// eventsource escaping must still see it.
    @Test func escapesEveryPercentByteForEventSource() {
        let wrapped = Array(SockJSReceiverKind.eventSource.wrap(.messages(["%\u{8CA} 100%"])).utf8)
        // Every % byte starts "%25" (compared as bytes: Character comparisons would merge the
        // combining mark into what precedes it).
        let percents = wrapped.indices.filter { wrapped[$0] == UInt8(ascii: "%") }
        #expect(percents.count == 2)
        #expect(percents.allSatisfy { Array(wrapped[$0..<min($0 + 3, wrapped.count)]) == Array("%25".utf8) })
    }

    @Test func decodesClientPayloads() {
        #expect(SockJSJSON.decodeMessages(Array(#"["a","b"]"#.utf8)) == ["a", "b"])
        #expect(SockJSJSON.decodeMessages(Array(#""one""#.utf8)) == ["one"])
        #expect(SockJSJSON.decodeMessages(Array("[]".utf8)) == [])
        #expect(SockJSJSON.decodeMessages(Array(#"["a"#.utf8)) == nil)
        #expect(SockJSJSON.decodeMessages(Array("[1]".utf8)) == nil)
    }

    @Test func wrapsPerTransport() {
        #expect(SockJSReceiverKind.xhrPolling.wrap(.open) == "o\n")
        #expect(SockJSReceiverKind.eventSource.wrap(.open) == "data: o\r\n\r\n")
        #expect(SockJSReceiverKind.eventSource.wrap(.messages(["100%"])) == "data: a[\"100%25\"]\r\n\r\n")
        #expect(SockJSReceiverKind.jsonp(callback: "cb").wrap(.messages(["x"])) == "/**/cb(\"a[\\\"x\\\"]\");\r\n")
        #expect(SockJSReceiverKind.htmlFile(callback: "cb").wrap(.open) == "<script>\np(\"o\");\n</script>\r\n")
        #expect(SockJSReceiverKind.xhrStreaming.prelude == String(repeating: "h", count: 2048) + "\n")
        #expect((SockJSReceiverKind.htmlFile(callback: "cb").prelude?.utf8.count ?? 0) > 1024)
        #expect(SockJSReceiverKind.isValidCallback("jQuery_1.2-3"))
        for bad in ["", " ", "*", "abc(", "a;b"] { #expect(!SockJSReceiverKind.isValidCallback(bad)) }
    }

    @Test func routesURLs() {
        #expect(SockJSRoute(path: "/stomp", prefix: "/stomp") == .greeting)
        #expect(SockJSRoute(path: "/stomp/", prefix: "/stomp") == .greeting)
        #expect(SockJSRoute(path: "/stomp/info", prefix: "/stomp") == .info)
        #expect(SockJSRoute(path: "/stomp/iframe-0.1.2.html", prefix: "/stomp") == .iframe)
        #expect(SockJSRoute(path: "/stomp/iframe-/.html", prefix: "/stomp") == .notFound)
        #expect(SockJSRoute(path: "/stomp/websocket", prefix: "/stomp") == .rawWebSocket)
        #expect(SockJSRoute(path: "/stomp/000/abc/xhr", prefix: "/stomp") == .session(server: "000", session: "abc", transport: .xhr))
        for bad in ["/stomp/a./a/xhr", "/stomp//a/xhr", "/stomp/a/a/nope", "/stomp/a/a", "/stomp/a"] {
            #expect(SockJSRoute(path: bad, prefix: "/stomp") == .notFound)
        }
        #expect(SockJSRoute(path: "/stompy", prefix: "/stomp") == nil)
    }
}
