import Logging
import NIOConcurrencyHelpers

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A swift-log handler that writes each event as one line (`LogLine`) in the configured
/// `LogFormat`, to standard error by default.
///
/// The whole line is built first and then written with one `write(2)` call under a
/// process-wide lock (a short write is finished before the lock is released), so lines from
/// different threads never interleave, however long they are.
public struct LineLogHandler: LogHandler {
    /// Where finished lines go (each ends with `\n`).
    public typealias Sink = @Sendable (String) -> Void

    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let format: LogFormat
    private let sink: Sink

    /// - Parameters:
    ///   - label: the logger's label, written with every line.
    ///   - format: `text` or `json`.
    ///   - level: the least severe level written.
    ///   - sink: where lines go; by default standard error (`LineLogHandler.standardError`).
    public init(
        label: String,
        format: LogFormat,
        level: Logger.Level = .info,
        metadataProvider: Logger.MetadataProvider? = nil,
        sink: @escaping Sink = LineLogHandler.standardError
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.metadataProvider = metadataProvider
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() {
            merged.merge(provided) { _, new in new }
        }
        if let own = event.metadata {
            merged.merge(own) { _, new in new }
        }
        if let error = event.error, merged["error"] == nil {
            merged["error"] = .string(String(describing: error))
        }
        let line = LogLine(
            timestamp: LogLine.now(),
            level: event.level,
            label: label,
            message: event.message.description,
            metadata: merged
        )
        sink(line.rendered(as: format))
    }

    /// Writes `line` to descriptor 2 whole: one `write(2)`, repeated only for the rest of a
    /// short write or after `EINTR`, under a lock shared by every handler of the process.
    public static let standardError: Sink = { line in
        LineLogHandler.writeLock.withLock {
            var bytes = Array(line.utf8)
            bytes.withUnsafeMutableBytes { buffer in
                var offset = 0
                while offset < buffer.count {
                    let written = write(2, buffer.baseAddress.map { $0 + offset }, buffer.count - offset)
                    if written > 0 {
                        offset += written
                    } else if written < 0, errno == EINTR {
                        continue
                    } else {
                        return  // standard error is gone: nothing else to tell
                    }
                }
            }
        }
    }

    private static let writeLock = NIOLock()
}
