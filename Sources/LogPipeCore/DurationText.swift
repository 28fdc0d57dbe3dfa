import Foundation

/// Durations as operators write them: a positive whole number and a unit, `250ms`, `10s`, `5m`, `2h`, `30d`, `2w`.
public enum DurationText {
    public static func parse<S: StringProtocol>(_ text: S) -> Duration? {
        let part = text.trimmingCharacters(in: .whitespaces)
        let (number, unit): (Substring, Substring) = part.hasSuffix("ms")
            ? (part.dropLast(2), "ms") : (part.dropLast(), part.suffix(1))
        guard let value = Int64(number), value > 0, value < 1 << 40 else { return nil }
        switch unit {
        case "ms": return .milliseconds(value)
        case "s": return .seconds(value)
        case "m": return .seconds(value * 60)
        case "h": return .seconds(value * 3600)
        case "d": return .seconds(value * 86_400)
        case "w": return .seconds(value * 604_800)
        default: return nil
        }
    }

    /// Whole milliseconds of a duration (rounded down).
    public static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }
}
