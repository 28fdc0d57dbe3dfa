import LogPipeCore
import Testing

@Suite("Text from outside, escaped for log lines and terminals")
struct TerminalTextTests {
    @Test(
        "control characters, DEL, C1 controls and bidirectional overrides are shown as escapes; the rest is kept",
        arguments: [
            ("plain text, ünïcödé ✓", "plain text, ünïcödé ✓"),
            ("line\nforged critical", #"line\nforged critical"#),
            ("\r\t", #"\r\t"#),
            ("\u{1B}[2J\u{1B}]0;title\u{07}", #"\u{1B}[2J\u{1B}]0;title\u{7}"#),
            ("nul\u{0}del\u{7F}csi\u{9B}", #"nul\u{0}del\u{7F}csi\u{9B}"#),
            ("a\u{202E}b\u{2066}c", #"a\u{202E}b\u{2066}c"#),
        ])
    func escapes(_ input: String, _ expected: String) {
        #expect(TerminalText.escaped(input) == expected)
    }
}

@Suite("UUID-shaped ids")
struct UUIDShapeTests {
    @Test(
        "8-4-4-4-12 hex digits, any case, and nothing else",
        arguments: [
            ("019ac8e2-5b3c-7d4e-8f00-123456789abc", true), ("019AC8E2-5B3C-7D4E-8F00-123456789ABC", true),
            ("019ac8e2-5b3c-7d4e-8f00-123456789ab", false), ("019ac8e2-5b3c-7d4e-8f00-123456789abcd", false),
            ("019ac8e2_5b3c-7d4e-8f00-123456789abc", false), ("019ac8g2-5b3c-7d4e-8f00-123456789abc", false),
            ("555-867-5309", false), ("", false),
        ])
    func shape(_ value: String, _ expected: Bool) {
        #expect(LogID.isUUID(value) == expected)
    }

    @Test("the redactor finds nothing in generated ids, so not scanning them changes nothing")
    func generatedIDsHoldNothing() {
        let redactor = Redactor()
        for _ in 0..<2000 {
            let id = LogID.generate()
            #expect(redactor.redact(id).counts.isEmpty, "\(id)")
        }
    }
}
