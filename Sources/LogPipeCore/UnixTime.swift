#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Wall-clock time in milliseconds since the Unix epoch, and its RFC 3339 rendering.
public struct UnixTime: Sendable, Hashable, Comparable {
    public var milliseconds: UInt64

    public init(milliseconds: UInt64) { self.milliseconds = milliseconds }

    public static var now: UnixTime {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return UnixTime(milliseconds: UInt64(spec.tv_sec) * 1000 + UInt64(spec.tv_nsec) / 1_000_000)
    }

    public var seconds: UInt64 { milliseconds / 1000 }

    public static func < (lhs: UnixTime, rhs: UnixTime) -> Bool { lhs.milliseconds < rhs.milliseconds }

    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` in UTC (a year past 9999, from a client's time stamp far out, gets all its digits).
    /// One is stamped on every request, so it is written digit by digit into the string's own storage.
    public var rfc3339: String {
        let days = Int64(milliseconds / 86_400_000)
        let msOfDay = Int(milliseconds % 86_400_000)
        let (year, month, day) = Self.civil(fromDays: days)
        var yearDigits = 4
        var higher = year / 10_000
        while higher > 0 {
            yearDigits += 1
            higher /= 10
        }
        return String(unsafeUninitializedCapacity: yearDigits + 20) { buffer in
            var end = 0
            func put(_ value: Int64, width: Int, then separator: Unicode.Scalar) {
                var value = value
                for index in (end..<end + width).reversed() {
                    buffer[index] = UInt8(ascii: "0") &+ UInt8(truncatingIfNeeded: value % 10)
                    value /= 10
                }
                buffer[end + width] = UInt8(ascii: separator)
                end += width + 1
            }
            put(year, width: yearDigits, then: "-")
            put(Int64(month), width: 2, then: "-")
            put(Int64(day), width: 2, then: "T")
            put(Int64(msOfDay / 3_600_000), width: 2, then: ":")
            put(Int64(msOfDay / 60_000 % 60), width: 2, then: ":")
            put(Int64(msOfDay / 1000 % 60), width: 2, then: ".")
            put(Int64(msOfDay % 1000), width: 3, then: "Z")
            return end
        }
    }

    /// Parses the API's own stamps (`YYYY-MM-DDTHH:MM:SS.mmmZ`, what ``rfc3339`` writes); nil for anything else.
    /// (The worker reads one per log, over the string's own UTF-8, without copying it.)
    public init?(stamp text: String) {
        var text = text
        let parsed = text.withUTF8 { b -> UInt64? in
            guard b.count == 24, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"), b[10] == UInt8(ascii: "T"),
                b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"), b[19] == UInt8(ascii: "."), b[23] == UInt8(ascii: "Z")
            else { return nil }
            func number(_ start: Int, _ count: Int) -> Int64? {
                var value: Int64 = 0
                for index in start..<start + count {
                    let digit = b[index] &- UInt8(ascii: "0")
                    guard digit < 10 else { return nil }
                    value = value * 10 + Int64(digit)
                }
                return value
            }
            guard let year = number(0, 4), let month = number(5, 2), let day = number(8, 2), let hour = number(11, 2),
                let minute = number(14, 2), let second = number(17, 2), let millis = number(20, 3),
                (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61
            else { return nil }
            let days = Self.days(year: year, month: month, day: day)
            let total = ((days * 24 + hour) * 60 + minute) * 60 + second
            guard total >= 0 else { return nil }
            return UInt64(total) * 1000 + UInt64(millis)
        }
        guard let parsed else { return nil }
        self.init(milliseconds: parsed)
    }

    /// Parses any RFC 3339 date-time (`2026-11-29T10:00:00Z`, `2026-11-29 10:00:00.123456+01:00`), rounded down
    /// to the millisecond and moved to UTC; nil for anything else or a time before 1970.
    public init?(rfc3339 text: String) {
        guard RFC3339.isValid(text) else { return nil }
        let b = Array(text.utf8)
        func number(_ start: Int, _ count: Int) -> Int64 {
            b[start..<start + count].reduce(0) { $0 * 10 + Int64($1 - UInt8(ascii: "0")) }
        }
        var index = 19
        var millis: Int64 = 0
        if b[index] == UInt8(ascii: ".") {
            index += 1
            var scale: Int64 = 100
            while index < b.count, b[index] >= UInt8(ascii: "0"), b[index] <= UInt8(ascii: "9") {
                millis += Int64(b[index] - UInt8(ascii: "0")) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetMinutes: Int64 = 0
        if b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-") {
            offsetMinutes = number(index + 1, 2) * 60 + number(index + 4, 2)
            if b[index] == UInt8(ascii: "-") { offsetMinutes = -offsetMinutes }
        }
        let days = Self.days(year: number(0, 4), month: number(5, 2), day: number(8, 2))
        // A leap second (:60) counts as the next second's start.
        let seconds = ((days * 24 + number(11, 2)) * 60 + number(14, 2) - offsetMinutes) * 60 + number(17, 2)
        guard seconds >= 0 else { return nil }
        self.init(milliseconds: UInt64(seconds) * 1000 + UInt64(millis))
    }

    /// Howard Hinnant's days-from-civil algorithm: days since 1970-01-01.
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    static func civil(fromDays days: Int64) -> (year: Int64, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}

/// Validation of RFC 3339 date-times such as `2026-11-29T10:00:00Z` or `2026-11-29T10:00:00.123+01:00`.
public enum RFC3339 {
    public static func isValid(_ text: String) -> Bool {
        let b = Array(text.utf8)
        func digits(_ start: Int, _ count: Int) -> Int? {
            guard start + count <= b.count else { return nil }
            var value = 0
            for byte in b[start..<start + count] {
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) else { return nil }
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
            }
            return value
        }
        guard b.count >= 20,
            let year = digits(0, 4), b[4] == UInt8(ascii: "-"), let month = digits(5, 2), b[7] == UInt8(ascii: "-"),
            let day = digits(8, 2), [UInt8(ascii: "T"), UInt8(ascii: "t"), UInt8(ascii: " ")].contains(b[10]),
            let hour = digits(11, 2), b[13] == UInt8(ascii: ":"), let minute = digits(14, 2),
            b[16] == UInt8(ascii: ":"), let second = digits(17, 2)
        else { return false }
        let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
        let monthDays = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...12).contains(month), (1...monthDays[month - 1]).contains(day), hour < 24, minute < 60, second <= 60
        else { return false }
        var index = 19
        if b[index] == UInt8(ascii: ".") {
            index += 1
            let start = index
            while index < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[index]) { index += 1 }
            guard index > start, index < b.count else { return false }
        }
        if b[index] == UInt8(ascii: "Z") || b[index] == UInt8(ascii: "z") { return index + 1 == b.count }
        guard b[index] == UInt8(ascii: "+") || b[index] == UInt8(ascii: "-"), index + 6 == b.count,
            let offsetHour = digits(index + 1, 2), b[index + 3] == UInt8(ascii: ":"),
            let offsetMinute = digits(index + 4, 2)
        else { return false }
        return offsetHour < 24 && offsetMinute < 60
    }
}
