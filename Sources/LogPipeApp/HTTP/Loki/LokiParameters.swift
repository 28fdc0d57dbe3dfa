import Foundation
import LogPipeCore

/// The query string of a read request, decoded as a form (`+` is a space, keys and values percent-decoded: Go's
/// `url.Values.Encode`, which Grafana and logcli use, writes `match%5B%5D=` and `sum+by+%28level%29`), and
/// Loki's parameter formats.
struct LokiParameters: Sendable {
    private var values: [(String, String)] = []

    init(query: String?) {
        for pair in (query ?? "").split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            values.append((Self.decode(parts[0]), parts.count > 1 ? Self.decode(parts[1]) : ""))
        }
    }

    static func decode(_ text: Substring) -> String {
        let spaced = text.replacingOccurrences(of: "+", with: " ")
        return spaced.removingPercentEncoding ?? spaced
    }

    /// The last value of `name` (empty values count as absent).
    subscript(name: String) -> String? {
        values.last { $0.0 == name && !$0.1.isEmpty }?.1
    }

    func all(_ name: String) -> [String] { values.filter { $0.0 == name && !$0.1.isEmpty }.map(\.1) }

    /// A time in nanoseconds since the epoch: an integer (nanoseconds, or seconds when it has at most 10
    /// digits), a decimal number of seconds, or RFC 3339; `fallback` when absent.
    func nanoseconds(_ name: String, fallback: Int64) throws(IngestError) -> Int64 {
        guard let text = self[name] else { return fallback }
        let invalid = IngestError(.invalidQuery, "\(name) must be a Unix time in nanoseconds or seconds, or an RFC 3339 time")
        var value: Int64
        if text.contains("."), let seconds = Double(text), seconds.isFinite {
            guard abs(seconds) < 4e9 else { throw invalid }
            value = Int64((seconds * 1e9).rounded())
        } else if let integer = Int64(text) {
            guard text.count <= 10 else { return try Self.bounded(integer, invalid) }
            value = integer * 1_000_000_000
        } else if let time = UnixTime(rfc3339: text), time.milliseconds < UInt64(Self.latest / 1_000_000) {
            value = Int64(time.milliseconds) * 1_000_000 + Self.subMillisecondNanoseconds(text)
        } else {
            throw invalid
        }
        return try Self.bounded(value, invalid)
    }

    /// Times from 1970 to 2096: far from overflow in any sum of two of them.
    static let latest: Int64 = 4_000_000_000_000_000_000

    static func bounded(_ value: Int64, _ error: IngestError) throws(IngestError) -> Int64 {
        guard value >= 0, value <= latest else { throw error }
        return value
    }

    /// The digits of an RFC 3339 fraction past the milliseconds, as nanoseconds (`.123456789` → 456789).
    static func subMillisecondNanoseconds(_ text: String) -> Int64 {
        guard let dot = text.firstIndex(of: ".") else { return 0 }
        let digits = text[text.index(after: dot)...].prefix { $0.isASCII && $0.isNumber }
        guard digits.count > 3 else { return 0 }
        let padded = String((digits + "000000000").prefix(9))
        return (Int64(padded) ?? 0) % 1_000_000
    }

    /// A duration in milliseconds: `5m`, `1h30m`, `250ms`, or a number of seconds (`15`, `0.5`); nil when absent.
    func milliseconds(_ name: String) throws(IngestError) -> Int64? {
        guard let text = self[name] else { return nil }
        if let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds < 1e10 { return Int64((seconds * 1000).rounded()) }
        guard let value = LogQLQuery.milliseconds(duration: text), value < 1 << 50 else {
            throw IngestError(.invalidQuery, "\(name) must be a duration such as 15s, 5m or 1h, or a number of seconds")
        }
        return value
    }

    /// `limit`: 100 when absent, at most `maximum`.
    func limit(maximum: Int) throws(IngestError) -> Int {
        guard let text = self["limit"] else { return 100 }
        guard let value = Int(text), value > 0 else { throw IngestError(.invalidQuery, "limit must be a positive whole number") }
        guard value <= maximum else { throw IngestError(.queryTooLarge, "limit must be at most \(maximum)") }
        return value
    }

    /// `direction`: newest first unless `forward`.
    func newestFirst() throws(IngestError) -> Bool {
        switch self["direction"]?.lowercased() {
        case nil, "backward": return true
        case "forward": return false
        default: throw IngestError(.invalidQuery, "direction must be forward or backward")
        }
    }
}
