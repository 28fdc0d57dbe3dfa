import Foundation
import LogPipeCore
import Logging

/// swift-log handler writing one line per event to standard error, in the format of `LOGPIPE_LOG_FORMAT`:
///
/// - `text` (default): `<time> <level> <label>: <key=value …> [<source>] <message>`;
/// - `json`: `{"ts":"…","level":"info","logger":"logpipe","msg":"…","source":"LogPipeApp", <metadata>…}`, the
///   metadata keys as they are (`request.id`, `log.id`, …) so that one log can be followed from the POST to the store.
///
/// Metadata is rendered only when a line is written: Hummingbird sets a request id on every request's logger,
/// and swift-log's `StreamLogHandler`, which renders on every change, cost about 2 % of the API's CPU at full load.
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level
    let format: LogPipeConfiguration.LogFormat
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        var line: [UInt8]
        switch format {
        case .text:
            var text = "\(Self.timestamp()) \(event.level) \(label):"
            for key in merged.keys.sorted() { text += " \(key)=\(merged[key]!)" }
            text += " [\(event.source)] \(event.message)\n"
            line = Array(text.utf8)
        case .json:
            var object: [String: Any] = [
                "ts": Self.timestamp(), "level": event.level.rawValue, "logger": label, "msg": "\(event.message)",
                "source": event.source,
            ]
            for (key, value) in merged { object[key] = Self.json(value) }
            guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
            line = Array(data)
            line.append(UInt8(ascii: "\n"))
        }
        // One write(2) per line keeps lines whole when several threads log at once.
        line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    static func json(_ value: Logger.Metadata.Value) -> Any {
        switch value {
        case .string(let text): text
        case .stringConvertible(let convertible): convertible.description
        case .array(let values): values.map(json)
        case .dictionary(let values): values.mapValues(json)
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UnixTime(milliseconds: UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000).rfc3339
    }
}
