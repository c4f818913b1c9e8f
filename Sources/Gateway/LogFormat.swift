/// How log lines are written to standard error (`log.format`, `--log-format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-01-31T12:00:00.123Z notice perigee: message key=value ...`: one event per line.
    case text
    /// One JSON object per line: `{"ts":"…","level":"…","label":"…","msg":"…", metadata…}`.
    case json
}
