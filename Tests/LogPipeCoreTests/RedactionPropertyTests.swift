import LogPipeCore
import Testing

/// Properties over generated lines: detected values never survive, counts add up, and redacting twice changes nothing.
@Suite("PII redaction properties")
struct RedactionPropertyTests {
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state ^ (state >> 29)
        }
    }

    static let fillers = [
        "GET", "/api/v1/orders", "status=200", "took", "12ms", "user", "login", "failed", "for",
        "request_id=abc123", "level=info", "2026-11-29T10:00:00Z", "ok", "retry", "v2.3.1", "bytes=1024",
        "—", "naïve", "x86_64", "sha=d41d8cd98f00b204e9800998ecf8427e", "port", ":443", "done.",
    ]

    /// A line of fillers and PII values separated by spaces, with the values it holds.
    static func line(_ generator: inout Generator) -> (String, [RedactionCases.Positive]) {
        var words: [String] = []
        var inserted: [RedactionCases.Positive] = []
        for _ in 0..<Int.random(in: 3...20, using: &generator) {
            if Int.random(in: 0..<4, using: &generator) == 0 {
                let positive = RedactionCases.positives.randomElement(using: &generator)!
                words.append(positive.value)
                inserted.append(positive)
            } else {
                words.append(fillers.randomElement(using: &generator)!)
            }
        }
        return (words.joined(separator: " "), inserted)
    }

    @Test("2,000 generated lines: values gone, counts exact, output of output equals output")
    func generatedLines() {
        let redactor = Redactor()
        var generator = Generator(state: 20_261_129)
        for _ in 0..<2000 {
            let (line, inserted) = Self.line(&generator)
            let result = redactor.redact(line)
            for positive in inserted where positive.value.count >= 7 {
                // The value itself is gone (a port or bracket that stays is not the value).
                #expect(!result.text.contains(positive.value), "\(positive) survived in: \(result.text)")
            }
            var expected: [String: Int] = [:]
            for positive in inserted { expected[positive.type.rawValue, default: 0] += 1 }
            #expect(result.counts == expected, "line: \(line)")
            let again = redactor.redact(result.text)
            #expect(again.text == result.text)
            #expect(again.counts.isEmpty)
        }
    }

    @Test(
        "hostile 1 MiB lines are handled in linear time and left intact", .timeLimit(.minutes(1)),
        arguments: [
            "1", "@", "1.", "a@", "1:", "a:", "+1", "1-", "(5", "4", "ff", "1 ", ".@", "a.b@c.",
            "eyJ", "eyJaaaaaaaaaaaa.", "Bearer ", "Basic ", "a://b:c@", "-----BEGIN PRIVATE KEY-----", "-----", "ghp_", "s",
        ])
    func hostile(_ unit: String) {
        let text = String(repeating: unit, count: (1 << 20) / unit.utf8.count)
        let result = Redactor().redact(text)
        let again = Redactor().redact(result.text)
        #expect(again.text == result.text)
        #expect(result.text.utf8.count <= text.utf8.count * 3)
    }
}
