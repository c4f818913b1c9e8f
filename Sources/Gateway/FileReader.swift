#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole regular file with blocking POSIX calls; run it on a thread pool, never on an
/// event loop.
enum FileReader {
    enum Failure: Error {
        case notFound
        case tooLarge
        case unreadable
    }

    static func read(_ path: String, maxSize: Int) throws(Failure) -> [UInt8] {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .notFound }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { throw .unreadable }
        guard (info.st_mode & S_IFMT) == S_IFREG else { throw .notFound }
        guard info.st_size <= maxSize else { throw .tooLarge }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer -> Int in
                guard let base = buffer.baseAddress else { return -1 }
                return Glibc.read(descriptor, base + offset, buffer.count - offset)
            }
            guard count > 0 else { throw .unreadable }
            offset += count
        }
        return bytes
    }
}
