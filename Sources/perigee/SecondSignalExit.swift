import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The first SIGTERM or SIGINT starts a drain (the `ServiceGroup`'s graceful shutdown); a
/// second one, while the drain is running, ends the process at once with exit code 1, for an
/// operator who will not wait. Dispatch delivers a signal to every source watching it, so this
/// counts the same signals that swift-service-lifecycle handles.
enum SecondSignalExit {
    private static let received = Atomic<Int>(0)

    /// Starts watching; cancel the sources once the drain is over.
    static func arm() -> [DispatchSourceSignal] {
        let queue = DispatchQueue(label: "perigee.second-signal")
        return [SIGTERM, SIGINT].map { number in
            let source = DispatchSource.makeSignalSource(signal: number, queue: queue)
            source.setEventHandler {
                let (_, count) = received.add(1, ordering: .relaxed)
                guard count >= 2 else { return }
                let message = Array("perigee: second signal during the drain: exiting now\n".utf8)
                _ = message.withUnsafeBytes { Glibc.write(2, $0.baseAddress, $0.count) }
                _exit(1)
            }
            source.resume()
            return source
        }
    }
}
