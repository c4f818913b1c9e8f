#if canImport(Glibc)
import Glibc
#endif

/// Reads a process's resident memory and CPU time from /proc (Linux).
package enum ProcessProbe {
    /// VmRSS in KiB, nil when the process is gone or /proc is unreadable.
    package static func rssKiB(pid: Int32) -> Int? {
        guard let text = readFile("/proc/\(pid)/status") else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// utime + stime in seconds.
    package static func cpuSeconds(pid: Int32) -> Double? {
        cpuSeconds(statPath: "/proc/\(pid)/stat")
    }

    /// utime + stime of every thread of the processes, by "pid/tid".
    package static func threadCPUSeconds(_ pids: [Int32]) -> [String: Double] {
        var result: [String: Double] = [:]
        for pid in pids {
            guard let directory = opendir("/proc/\(pid)/task") else { continue }
            defer { closedir(directory) }
            while let entry = readdir(directory) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
                }
                guard name.first?.isNumber == true else { continue }
                if let seconds = cpuSeconds(statPath: "/proc/\(pid)/task/\(name)/stat") { result["\(pid)/\(name)"] = seconds }
            }
        }
        return result
    }

    /// The busiest thread's share of one core between two `threadCPUSeconds` readings, percent.
    package static func busiestThreadPercent(from start: [String: Double], to end: [String: Double], seconds: Double) -> Double {
        guard seconds > 0 else { return 0 }
        var busiest = 0.0
        for (thread, value) in end { busiest = max(busiest, value - (start[thread] ?? 0)) }
        return busiest / seconds * 100
    }

    private static func cpuSeconds(statPath: String) -> Double? {
        guard let text = readFile(statPath) else { return nil }
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
