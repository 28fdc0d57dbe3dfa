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
        let line = line(event)
        // One write(2) per line keeps lines whole when several threads log at once.
        line.withUnsafeBytes { _ = write(STDERR_FILENO, $0.baseAddress, $0.count) }
    }

    /// The line written for `event`, with its newline.
    func line(_ event: LogEvent) -> [UInt8] {
        let merged = metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 })
        var line: [UInt8]
        switch format {
        case .text:
            // Values can hold text from outside (ids, tenant headers): escaped, they cannot forge a line.
            var text = "\(Self.timestamp()) \(event.level) \(label):"
            for key in merged.keys.sorted() { text += " \(TerminalText.escaped(key))=\(TerminalText.escaped("\(merged[key]!)"))" }
            text += " [\(event.source)] \(TerminalText.escaped("\(event.message)"))\n"
            line = Array(text.utf8)
        case .json:
            var object: Logger.Metadata = [
                "ts": .string(Self.timestamp()), "level": .string(event.level.rawValue), "logger": .string(label),
                "msg": .string("\(event.message)"), "source": .string(event.source),
            ]
            object.merge(merged) { $1 }
            line = []
            Self.appendJSON(.dictionary(object), to: &line)
            line.append(UInt8(ascii: "\n"))
        }
        return line
    }

    /// A metadata value as JSON with the hand-written writer: strings as strings, arrays and dictionaries
    /// nested (keys sorted, so a line reads the same every time).
    static func appendJSON(_ value: Logger.Metadata.Value, to output: inout [UInt8]) {
        switch value {
        case .string(let text):
            JSONWriting.appendString(text, to: &output)
        case .stringConvertible(let convertible):
            JSONWriting.appendString(convertible.description, to: &output)
        case .array(let values):
            output.append(UInt8(ascii: "["))
            for (index, element) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                appendJSON(element, to: &output)
            }
            output.append(UInt8(ascii: "]"))
        case .dictionary(let members):
            output.append(UInt8(ascii: "{"))
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONWriting.appendString(key, to: &output)
                output.append(UInt8(ascii: ":"))
                appendJSON(members[key]!, to: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return UnixTime(milliseconds: UInt64(now.tv_sec) * 1000 + UInt64(now.tv_nsec) / 1_000_000).rfc3339
    }
}
