import Foundation

/// Durations as operators write them: a positive whole number and a unit, `250ms`, `10s`, `5m`, `2h`, `30d`, `2w`.
public enum DurationText {
    public static func parse<S: StringProtocol>(_ text: S) -> Duration? {
        let part = text.trimmingCharacters(in: .whitespaces)
        let (number, unit): (Substring, Substring) =
            part.hasSuffix("ms")
            ? (part.dropLast(2), "ms") : (part.dropLast(), part.suffix(1))
        guard let value = Int64(number), value > 0 else { return nil }
        let seconds: Int64
        switch unit {
        case "ms": return value <= maxSeconds * 1000 ? .milliseconds(value) : nil
        case "s": seconds = 1
        case "m": seconds = 60
        case "h": seconds = 3600
        case "d": seconds = 86_400
        case "w": seconds = 604_800
        default: return nil
        }
        // At most 1,000 years: whatever reads a duration can turn it into milliseconds without overflow.
        guard value <= maxSeconds / seconds else { return nil }
        return .seconds(value * seconds)
    }

    static let maxSeconds: Int64 = 1000 * 366 * 86_400

    /// A duration in the largest whole unit, as ``parse(_:)`` reads it: 1s, 10s, 1m, 10m, 1h, 250ms (retry queue
    /// names, log lines and messages).
    public static func format(_ duration: Duration) -> String {
        let milliseconds = milliseconds(duration)
        if milliseconds % 3_600_000 == 0 { return "\(milliseconds / 3_600_000)h" }
        if milliseconds % 60_000 == 0 { return "\(milliseconds / 60_000)m" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000)s" }
        return "\(milliseconds)ms"
    }

    /// Whole milliseconds of a duration (rounded down).
    public static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
