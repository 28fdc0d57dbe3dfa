import Foundation
import LogPipeCore
import Testing

/// The hand-written JSON reader and writer of the hot paths, cross-checked with Foundation's JSON.
@Suite("JSON fast paths")
struct JSONFastPathTests {
    static let texts = [
        "plain", "quote \" backslash \\ slash /", "tab\tnew\nline\rreturn", "control \u{01}\u{1F}\u{7F}", "émoji 🎉 日本語",
        "", "\u{2028}\u{2029}", String(repeating: "x", count: 5000), #"{"looks":"like json"}"#,
    ]

    static func record(_ text: String, full: Bool) -> LogRecord {
        LogRecord(
            tenantID: TenantID("acme")!, logID: "id-1", text: text, receivedAt: "2026-11-29T10:00:00.123Z", requestID: "r-1",
            fields: LogFields(
                timestamp: full ? "2026-11-29T09:59:59Z" : nil, level: full ? "warn \"x\"" : nil, source: full ? "web/1" : nil,
                attributes: full ? ["n": .int(-42), "big": .int(Int64.max), "r": .double(0.25), "ok": .bool(false), "s": .string("a\"b\n")] : nil))
    }

    @Test("records written by hand read back identically, by the scanner and by Foundation", arguments: texts, [false, true])
    func roundTrip(_ text: String, _ full: Bool) throws {
        let record = Self.record(text, full: full)
        let bytes = record.jsonBytes
        #expect(try WorkBody.parse(bytes) == [record])
        #expect(try JSONDecoder().decode(LogRecord.self, from: Data(bytes)) == record)
        #expect(try JSONSerialization.jsonObject(with: Data(bytes)) is [String: Any])
    }

    @Test("batch chunks read back in order")
    func batch() throws {
        let records = Self.texts.enumerated().map { index, text in
            LogRecord(tenantID: TenantID("t\(index)")!, logID: "b-\(index)", text: text, receivedAt: "2026-11-29T10:00:00.000Z", requestID: "r")
        }
        #expect(try WorkBody.parse(WorkBody.batch(records.map(\.jsonBytes))) == records)
    }

    @Test(
        "bodies that are not usable logs get their reason",
        arguments: [
            ("not json", WorkBody.DecodeFailure.undecodable), ("", .undecodable), ("[1]", .undecodable), ("{}", .unknownSchema),
            (#"{"v":2,"tenant_id":"a","log_id":"l","text":"t","received_at":"x","request_id":"r"}"#, .unknownSchema),
            (#"{"v":"1","tenant_id":"a","log_id":"l","text":"t","received_at":"x","request_id":"r"}"#, .undecodable),
            (#"{"v":1,"tenant_id":"Bad!","log_id":"l","text":"t","received_at":"x","request_id":"r"}"#, .invalidTenant),
            (#"{"v":1,"tenant_id":"a","text":"t","received_at":"x","request_id":"r"}"#, .undecodable),
            (#"{"v":1,"tenant_id":"a","log_id":"l","text":"t","received_at":"x","request_id":"r"} trailing"#, .undecodable),
            (#"{"v":1,"batch":[]}"#, .unknownSchema),
            (#"{"v":1,"batch":[{"v":1,"tenant_id":"a","log_id":"l","text":"t","received_at":"x","request_id":"r"},{"v":1}]}"#, .undecodable),
            (#"{"v":1,"tenant_id":"a","log_id":"l","text":"bad \u12","received_at":"x","request_id":"r"}"#, .undecodable),
            (#"{"v":1,"tenant_id":"a","log_id":"l","text":"lone \ud800","received_at":"x","request_id":"r"}"#, .undecodable),
        ])
    func failures(_ body: String, _ expected: WorkBody.DecodeFailure) {
        #expect(throws: expected) { try WorkBody.parse(Array(body.utf8)) }
    }

    @Test("unknown members are ignored; escapes and surrogate pairs decode")
    func lenient() throws {
        let body = #"{"x":[1,{"y":null}],"v":1,"tenant_id":"a","log_id":"l","text":"\u00e9\ud83c\udf89\/","received_at":"x","request_id":"r","level":null}"#
        let records = try WorkBody.parse(Array(body.utf8))
        #expect(records.first?.text == "é🎉/")
        #expect(records.first?.level == nil)
    }

    @Test(
        "the scanner refuses what RFC 8259 refuses",
        arguments: [
            "01", "1.", ".5", "+1", "1e", "-", "tru", "nul", #""\x""#, "\"a\u{01}\"", "[1,]", #"{"a":1,}"#, #"{"a" 1}"#, "{a:1}",
            "\"open", #""escaped quote at the end\""#, #""tab\"#, "\"bell \u{07} inside\"",
            String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
        ])
    func strict(_ text: String) {
        #expect(Self.scan(text) == .syntax)
    }

    @Test(
        "the scanner takes what RFC 8259 allows",
        arguments: [
            "0", "-0.5e+10", "1E3", "true", "null", #" "\"\\\/\b\f\n\r\t\u0041" "#, " [ ] ", "{}", #"{"a":[{},[],"",0]}"#,
        ])
    func accepts(_ text: String) {
        #expect(Self.scan(text) == nil)
    }

    @Test("strings read the same whatever the offset of an escape, a non-ASCII byte or the closing quote", arguments: 0..<20)
    func everyOffset(_ offset: Int) throws {
        let padding = String(repeating: "a", count: offset)
        for special in ["\"", "\\", "\n", "\t", "\u{01}", "\u{1F}", "é", "🎉", "\u{7F}", "~"] {
            for tail in ["", "b", String(repeating: "b", count: 9)] {
                // Written by the hand-made writer, read by the scanner and by Foundation.
                let record = Self.record(padding + special + tail, full: false)
                #expect(try WorkBody.parse(record.jsonBytes) == [record], "\(offset) \(record.text)")
                #expect(try JSONDecoder().decode(LogRecord.self, from: Data(record.jsonBytes)) == record, "\(offset) \(record.text)")
            }
        }
        #expect(Self.scan("\"" + padding + "\"") == nil)
        #expect(Self.scan("\"" + padding) == .syntax)
        #expect(Self.scan("\"" + padding + "\u{01}" + String(repeating: "b", count: 9) + "\"") == .syntax)
        #expect(Self.scan("\"" + padding + "\u{1F}\"") == .syntax)
    }

    /// Scans one value and the end; the failure, or nil.
    static func scan(_ text: String) -> JSONScanner.Failure? {
        let bytes = Array(text.utf8)
        return bytes.withUnsafeBytes { raw -> JSONScanner.Failure? in
            var scanner = JSONScanner(raw)
            do throws(JSONScanner.Failure) {
                try scanner.skipValue()
                try scanner.expectEnd()
                return nil
            } catch {
                return error
            }
        }
    }
}

@Suite("API time stamps")
struct StampTests {
    @Test("stamps parse back to the same instant", arguments: [0, 1, 86_399_999, 951_782_400_000, 1_795_000_000_123, 4_102_444_800_999] as [UInt64])
    func roundTrip(_ milliseconds: UInt64) {
        let time = UnixTime(milliseconds: milliseconds)
        #expect(UnixTime(stamp: time.rfc3339) == time)
    }

    @Test(
        "anything else is not a stamp",
        arguments: [
            "", "2026-11-29T10:00:00Z", "2026-13-01T00:00:00.000Z", "2026-11-29 10:00:00.000Z", "2026-11-29T10:00:00.000+01:00",
            "2026-11-29T10:00:00.00xZ", "2026-11-2/T10:00:00.000Z", "2026-11-2:T10:00:00.000Z", "10000-01-01T00:00:00.000Z",
        ])
    func rejects(_ text: String) {
        #expect(UnixTime(stamp: text) == nil)
    }
}
