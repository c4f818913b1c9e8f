/// Maps request paths to files under the web root, refusing anything that would leave it.
struct StaticFiles: Sendable {
    let root: String

    /// The file for `path`, or nil when the path is not a safe relative path.
    func file(for path: String) -> String? {
        guard let decoded = PercentEncoding.decode(path[...], plusIsSpace: false, maxBytes: path.utf8.count) else { return nil }
        var segments: [Substring] = []
        for segment in decoded.split(separator: "/", omittingEmptySubsequences: true) {
            guard segment != "..", segment != ".", !segment.contains("\0"), !segment.hasPrefix(".") else { return nil }
            segments.append(segment)
        }
        let relative = segments.isEmpty || decoded.hasSuffix("/") ? (segments + ["index.html"]) : segments
        return root + "/" + relative.joined(separator: "/")
    }

    static func contentType(for file: String) -> String {
        let ext = file.split(separator: ".").last.map { $0.lowercased() } ?? ""
        switch ext {
        case "html", "htm": return "text/html; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "json": return "application/json"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "ico": return "image/x-icon"
        case "txt": return "text/plain; charset=utf-8"
        default: return "application/octet-stream"
        }
    }
}
