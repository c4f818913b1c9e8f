#if canImport(Glibc)
import Glibc
#endif

/// Reads a process's resident memory and CPU time from /proc (Linux).
package enum ProcessProbe {
    /// VmRSS in KiB, nil when the process is gone or /proc is unreadable.
    package static func rssKiB(pid: Int32) -> Int? {
        guard let text = readFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).split(separator: " ").first ?? "")
        }
        return nil
    }

    /// utime + stime in seconds.
    package static func cpuSeconds(pid: Int32) -> Double? {
        guard let text = readFile("/proc/\(pid)/stat") else { return nil }
        // The command name may contain spaces: fields are counted after its closing parenthesis.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // After ")": state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
        guard fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// The sum over `pids`, nil when none is readable.
    package static func totalRSSKiB(_ pids: [Int32]) -> Int? {
        let values = pids.compactMap(rssKiB)
        return values.isEmpty ? nil : values.reduce(0, +)
    }

    package static func totalCPUSeconds(_ pids: [Int32]) -> Double? {
        let values = pids.compactMap(cpuSeconds)
        return values.isEmpty ? nil : values.reduce(0, +)
    }

    /// Raises RLIMIT_NOFILE's soft limit to its hard limit; returns the new soft limit.
    @discardableResult
    package static func raiseFileLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 0 }
        limit.rlim_cur = limit.rlim_max
        _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        return Int(limit.rlim_cur)
    }

    private static func readFile(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count <= 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
