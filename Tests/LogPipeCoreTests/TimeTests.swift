import LogPipeCore
import Testing

@Suite("Time formatting and RFC 3339")
struct TimeTests {
    @Test(
        "UnixTime renders RFC 3339 UTC with milliseconds",
        arguments: [
            (UInt64(0), "1970-01-01T00:00:00.000Z"),
            (UInt64(951_782_400_000), "2000-02-29T00:00:00.000Z"),
            (UInt64(1_764_374_400_123), "2025-11-29T00:00:00.123Z"),
            (UInt64(4_102_444_799_999), "2099-12-31T23:59:59.999Z"),
            (UInt64(253_402_300_799_999), "9999-12-31T23:59:59.999Z"),
            (UInt64(18_446_744_073_709), "2554-07-21T23:34:33.709Z"),  // the latest OTLP time stamp (UInt64.max ns)
        ])
    func rendering(_ milliseconds: UInt64, _ expected: String) {
        #expect(UnixTime(milliseconds: milliseconds).rfc3339 == expected)
        #expect(RFC3339.isValid(expected))
    }

    @Test("a year past four digits is written whole (not RFC 3339, but not a wrong date)")
    func wideYear() {
        #expect(UnixTime(milliseconds: 253_402_300_800_000).rfc3339 == "10000-01-01T00:00:00.000Z")
    }

    @Test(
        "valid RFC 3339 date-times",
        arguments: [
            "2026-11-29T10:00:00Z", "2026-11-29t10:00:00z", "2026-11-29T10:00:00.1Z", "2026-11-29T10:00:00.123456789Z",
            "2026-11-29T10:00:00+01:00", "2026-11-29T10:00:00-08:30", "2024-02-29T00:00:00Z", "2026-11-29 10:00:00Z",
            "2026-12-31T23:59:60Z",
        ])
    func validTimestamps(_ text: String) {
        #expect(RFC3339.isValid(text))
    }

    @Test(
        "invalid RFC 3339 date-times",
        arguments: [
            "", "2026-11-29", "2026-11-29T10:00:00", "2026-13-01T00:00:00Z", "2025-02-29T00:00:00Z",
            "2026-11-29T24:00:00Z", "2026-11-29T10:60:00Z", "2026-11-29T10:00:00.Z", "2026-11-29T10:00:00+0100",
            "yesterday", "2026-11-29T10:00:00Z ", "1764374400",
        ])
    func invalidTimestamps(_ text: String) {
        #expect(!RFC3339.isValid(text))
    }
}
