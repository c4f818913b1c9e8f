import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import Testing
@testable import Hub

/// Issue 9: `StompConnection` with a gatekeeper that answers later (a token verified off the
/// loop, an HTTP hook): input waits in order, bounded, and a principal that expires is cut off.
@Suite struct StompConnectionGatekeeperTests {
    /// Records the frames a connection writes, and whether it closed.
    final class RecordingTransport: StompTransport {
        var output = ""
        var closed = false
        func write(_ bytes: ByteBuffer, isText: Bool, shared: SharedFrame?) { output += String(buffer: bytes) }
        func flush() {}
        var isWritable: Bool { true }
        var carriesTextOnly: Bool { false }
        func close(afterError: Bool) { closed = true }
        func abort(farewell: ByteBuffer) { closed = true }

        /// The commands of the frames written so far, heart-beats aside.
        var commands: [String] {
            output.split(separator: "\0").compactMap { frame in
                frame.split(separator: "\n", omittingEmptySubsequences: true).first.map(String.init)
            }
        }
    }

    /// Answers CONNECT and SEND reviews through promises the test fulfils.
    final class DeferredGatekeeper: StompGatekeeper {
        let connects = NIOLockedValueBox<[EventLoopPromise<Result<Principal, StompError>>]>([])
        let reviews = NIOLockedValueBox<[EventLoopPromise<Result<StompReview.Outcome, StompError>>]>([])

        func authenticate(_ request: StompConnectRequest) -> StompVerdict<Principal> {
            let promise = request.eventLoop.makePromise(of: Result<Principal, StompError>.self)
            connects.withLockedValue { $0.append(promise) }
            return .pending(promise.futureResult)
        }

        func allows(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool { true }

        func needsReview(_ principal: Principal, _ action: AccessAction, _ destination: Destination) -> Bool {
            action == .send && destination.name == "reviewed"
        }

        func review(_ request: StompReview) -> StompVerdict<StompReview.Outcome> {
            let promise = request.eventLoop.makePromise(of: Result<StompReview.Outcome, StompError>.self)
            reviews.withLockedValue { $0.append(promise) }
            return .pending(promise.futureResult)
        }
    }

    private static func connection(
        _ configure: (inout HubConfiguration) -> Void = { _ in }
    ) throws -> (EmbeddedEventLoop, DeferredGatekeeper, RecordingTransport, StompConnection) {
        let loop = EmbeddedEventLoop()
        let gatekeeper = DeferredGatekeeper()
        var configuration = HubConfiguration()
        configuration.gatekeeper = gatekeeper
        configure(&configuration)
        let hub = Hub(group: loop, configuration: configuration)
        let transport = RecordingTransport()
        let connection = try #require(StompConnection(hub: hub, eventLoop: loop, transport: transport))
        return (loop, gatekeeper, transport, connection)
    }

    /// Frames that arrive while CONNECT or a SEND waits for the gatekeeper are handled after
    /// the answer, in their order.
    @Test func framesWaitForTheAnswerInOrder() throws {
        let (loop, gatekeeper, transport, connection) = try Self.connection()
        connection.receive(ByteBuffer(string:
            "CONNECT\naccept-version:1.2\nhost:h\n\n\0"
            + "SEND\ndestination:/topic/reviewed\nreceipt:1\n\nfirst\0"
            + "SEND\ndestination:/topic/plain\nreceipt:2\n\nsecond\0"
        ))
        loop.run()
        #expect(transport.commands.isEmpty)
        gatekeeper.connects.withLockedValue { $0.first }?.succeed(.success(Principal(user: "alice")))
        loop.run()
        #expect(transport.commands == ["CONNECTED"])
        #expect(transport.output.contains("perigee-user:alice"))
        gatekeeper.reviews.withLockedValue { $0.first }?.succeed(.success(.allow))
        loop.run()
        #expect(transport.commands == ["CONNECTED", "RECEIPT", "RECEIPT"])
        let receipts = transport.output.split(separator: "\0").filter { $0.hasPrefix("RECEIPT") }
        #expect(receipts.map { $0.contains("receipt-id:1") } == [true, false])
        withExtendedLifetime(connection) {}
    }

    /// Input that piles up behind an unanswered frame is bounded.
    @Test func inputWaitingForAnAnswerIsBounded() throws {
        let (loop, _, transport, connection) = try Self.connection { $0.maxInputAwaitingDecision = 1_024 }
        connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0"))
        connection.receive(ByteBuffer(string: String(repeating: "SEND\ndestination:/topic/a\n\nx\0", count: 40)))
        loop.run()
        #expect(transport.commands == ["ERROR"])
        #expect(transport.output.contains("message:too much input awaiting authorization"))
        #expect(transport.closed)
        withExtendedLifetime(connection) {}
    }

    /// A principal's expiry ends its session with ERROR `token expired`.
    @Test func anExpiringPrincipalIsCutOff() throws {
        let (loop, gatekeeper, transport, connection) = try Self.connection()
        connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0"))
        gatekeeper.connects.withLockedValue { $0.first }?.succeed(.success(Principal(user: "bob", expiry: loop.now + .seconds(5))))
        loop.run()
        #expect(transport.commands == ["CONNECTED"])
        loop.advanceTime(by: .milliseconds(4_999))
        #expect(!transport.closed)
        loop.advanceTime(by: .milliseconds(1))
        #expect(transport.commands == ["CONNECTED", "ERROR"])
        #expect(transport.output.contains("message:token expired"))
        #expect(transport.closed)
        withExtendedLifetime(connection) {}
    }

    /// A gatekeeper whose future fails, or never answers, cannot hang the session: the first
    /// fails closed, the second meets the CONNECT timeout.
    @Test func failedOrMissingAnswersFailClosed() throws {
        let (loop, gatekeeper, transport, connection) = try Self.connection()
        connection.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0"))
        struct Broken: Error {}
        gatekeeper.connects.withLockedValue { $0.first }?.fail(Broken())
        loop.run()
        #expect(transport.output.contains("message:authorization unavailable"))
        #expect(transport.closed)

        let (slowLoop, _, silent, waiting) = try Self.connection { $0.connectTimeoutMilliseconds = 1_000 }
        waiting.receive(ByteBuffer(string: "CONNECT\naccept-version:1.2\nhost:h\n\n\0"))
        slowLoop.advanceTime(by: .seconds(1))
        #expect(silent.output.contains("message:connect timeout"))
        #expect(silent.closed)
        withExtendedLifetime((connection, waiting)) {}
    }
}
