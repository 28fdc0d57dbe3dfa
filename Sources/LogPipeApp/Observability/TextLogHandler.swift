import Foundation
import LogPipeCore
import Logging

/// swift-log handler writing plain text lines to standard error (`LOGPIPE_LOG_FORMAT=text`, the default):
/// `<time> <level> <label>: <key=value …> [<source>] <message>`.
///
/// Unlike swift-log's `StreamLogHandler` it renders metadata only when a line is written: Hummingbird sets a
/// request id on every request's logger, and rendering it there cost about 2 % of the API's CPU at full load.
struct TextLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        var line = "\(JSONLogHandler.timestamp()) \(event.level) \(label):"
        for key in merged.keys.sorted() { line += " \(key)=\(merged[key]!)" }
        line += " [\(event.source)] \(event.message)\n"
        // One write(2) per line keeps lines whole when several threads log at once.
        var bytes = line
        bytes.withUTF8 { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }
}
