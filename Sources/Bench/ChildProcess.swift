import Dispatch
import Foundation

/// A child copy of this program running a share of the subscribers (`--processes`): it prints
/// `READY <json>` once connected and then answers `SNAP` / `RESET` on stdin with `SNAP <json>`
/// (a `ReceiveSnapshot`); `QUIT` or end of input ends it.
final class ChildProcess: @unchecked Sendable {
    // @unchecked: `process` and the pipes are used from one request at a time (the run awaits
    // each `request` before the next), and Foundation's Process is thread-safe for these calls.
    private let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private var pending = Data()
    private let queue = DispatchQueue(label: "perigee-bench.child")

    var pid: Int32 { process.processIdentifier }

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        process.arguments = arguments
        process.standardInput = input
        process.standardOutput = output
        try process.run()
    }

    /// Waits (off the cooperative pool) for the next line starting with `prefix`.
    func readLine(prefix: String, timeout: Double) async -> String? {
        await withCheckedContinuation { continuation in
            queue.async {
                let deadline = MonotonicClock.seconds() + timeout
                while MonotonicClock.seconds() < deadline {
                    if let newline = self.pending.firstIndex(of: 0x0A) {
                        let line = String(decoding: self.pending[self.pending.startIndex..<newline], as: UTF8.self)
                        self.pending.removeSubrange(self.pending.startIndex...newline)
                        if line.hasPrefix(prefix) {
                            continuation.resume(returning: String(line.dropFirst(prefix.count)))
                            return
                        }
                        continue
                    }
                    let chunk = self.output.fileHandleForReading.availableData
                    if chunk.isEmpty {
                        continuation.resume(returning: nil)  // the child exited
                        return
                    }
                    self.pending.append(chunk)
                }
                continuation.resume(returning: nil)
            }
        }
    }

    func send(_ command: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((command + "\n").utf8))
    }

    /// Asks for the child's statistics.
    func snapshot(resetStep: Bool) async -> ReceiveSnapshot? {
        send(resetStep ? "RESET" : "SNAP")
        guard let json = await readLine(prefix: "SNAP ", timeout: 30) else { return nil }
        return try? JSONDecoder().decode(ReceiveSnapshot.self, from: Data(json.utf8))
    }

    func quit() {
        send("QUIT")
        try? input.fileHandleForWriting.close()
    }

    func waitForExit(timeout: Double) {
        let deadline = MonotonicClock.seconds() + timeout
        while process.isRunning && MonotonicClock.seconds() < deadline { usleep(20_000) }
        if process.isRunning { process.terminate() }
    }
}
