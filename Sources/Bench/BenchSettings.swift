/// The server a run talks to; it decides paths, destinations and CONNECT headers.
package enum ServerDialect: String, Sendable, CaseIterable {
    case perigee, rabbitmq, nchan

    package var defaultPath: String {
        switch self {
        case .perigee: "/stomp"
        case .rabbitmq: "/ws"
        case .nchan: "/sub"
        }
    }

    package var defaultPublishVia: PublishVia {
        self == .nchan ? .http : .tcp
    }

    package var speaksStomp: Bool { self != .nchan }
}

/// How subscribers receive.
package enum SubscriberTransport: String, Sendable, CaseIterable {
    case websocket
    case tcp
    case xhrStreaming = "xhr-streaming"
    case xhrPolling = "xhr-polling"
    case eventsource
}

/// How publishers send.
package enum PublishVia: String, Sendable, CaseIterable {
    case http, tcp, websocket
}

/// The benchmark modes of the command line.
package enum BenchMode: String, Sendable, CaseIterable {
    case fanout, idle, connect, ingest
}

/// Everything a run needs, already validated by the command line.
package struct BenchSettings: Sendable {
    package var mode: BenchMode = .fanout
    package var server: ServerDialect = .perigee
    package var host = "127.0.0.1"
    package var port = 9100
    package var stompPort = 61613
    package var path: String?
    package var transport: SubscriberTransport = .websocket
    package var deflate = false
    package var subscribers = 1000
    package var topics = 1
    package var publishers = 1
    package var publishVia: PublishVia?
    /// Publish rates to run, one per step.
    package var rates: [Double] = [100]
    package var stepSeconds: Double = 5
    package var bodySize = 64
    package var p99BoundMs: Double = 100
    package var sourceAddresses = 1
    package var processes = 1
    package var serverPids: [Int32] = []
    package var connectConcurrency = 500
    package var holdSeconds: Double = 3
    package var json = false
    package var failOnLoss = false
    package var threads = 2
    package var timeoutSeconds: Double = 120
    /// Set in a child process: which share of the subscribers it runs.
    package var childIndex: Int?
    /// Names topics uniquely per run, so nchan's buffered messages from an earlier run never mix in.
    package var runID = ""

    package init() {}

    package var resolvedPath: String { path ?? server.defaultPath }
    package var resolvedPublishVia: PublishVia { publishVia ?? server.defaultPublishVia }
    package var effectiveBodySize: Int { max(bodySize, MessageBody.minimumSize) }
    /// The publisher id that marks warm-up messages (ignored by sequence checks).
    package var warmupPublisher: Int { publishers }

    package func topicName(_ index: Int) -> String { "b\(runID)t\(index)" }

    /// The STOMP destination or nchan channel of topic `index`.
    package func destination(_ index: Int) -> String {
        server == .nchan ? topicName(index) : "/topic/" + topicName(index)
    }

    /// Subscriber `index` (global numbering across processes) listens on this topic.
    package func topic(ofSubscriber index: Int) -> Int { index % max(topics, 1) }

    /// The local address a connection numbered `index` binds to (127.0.0.1 ... 127.0.0.K).
    package func sourceAddress(_ index: Int) -> String? {
        sourceAddresses <= 1 ? nil : "127.0.0.\(1 + index % sourceAddresses)"
    }
}
