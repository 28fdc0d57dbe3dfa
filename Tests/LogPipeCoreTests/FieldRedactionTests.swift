import Foundation
import LogPipeCore
import Testing

/// Every stored string is redacted, and attributes whose key names a secret lose their whole value (docs/redaction.md).
@Suite("Redaction of every field")
struct FieldRedactionTests {
    static func record(
        text: String = "login ok", level: String? = nil, source: String? = nil,
        attributes: [String: AttributeValue]? = nil, tenant: String = "acme"
    ) -> LogRecord {
        LogRecord(
            tenantID: TenantID(tenant)!, logID: "attr-1", text: text, receivedAt: "2026-12-01T10:00:00.000Z",
            requestID: "r1", fields: LogFields(level: level, source: source, attributes: attributes))
    }

    @Test("the issue's example: source and every attribute value masked and counted")
    func issueExample() {
        let record = Self.record(
            source: "bob@example.com",
            attributes: [
                "user_email": .string("jane.doe@example.com"), "client_ip": .string("10.1.2.3"),
                "card": .string("4111 1111 1111 1111"),
            ])
        let stored = StoredLog(record: record, redactor: Redactor(), processedAtStamp: "2026-12-01T10:00:01.000Z")
        #expect(stored.text == "login ok")
        #expect(stored.source == "[REDACTED:EMAIL]")
        #expect(
            stored.attributes == [
                "user_email": .string("[REDACTED:EMAIL]"), "client_ip": .string("[REDACTED:IP_ADDRESS]"),
                "card": .string("[REDACTED:CREDIT_CARD]"),
            ])
        #expect(stored.redactions == ["EMAIL": 2, "IP_ADDRESS": 1, "CREDIT_CARD": 1])
    }

    @Test("text, level and source counts add up with the attributes'")
    func countsOverAllFields() {
        let record = Self.record(
            text: "call 555-123-4567 from 10.0.0.1", level: "warn 10.0.0.2", source: "host 10.0.0.3",
            attributes: ["note": .string("mail a@example.com"), "n": .int(5551234567)])
        let stored = StoredLog(record: record, redactor: Redactor(), processedAtStamp: "2026-12-01T10:00:01.000Z")
        #expect(stored.text == "call [REDACTED:PHONE] from [REDACTED:IP_ADDRESS]")
        #expect(stored.level == "warn [REDACTED:IP_ADDRESS]")
        #expect(stored.source == "host [REDACTED:IP_ADDRESS]")
        #expect(stored.attributes?["note"] == .string("mail [REDACTED:EMAIL]"))
        #expect(stored.attributes?["n"] == .int(5551234567), "numbers are not text: kept")
        #expect(stored.redactions == ["PHONE": 1, "IP_ADDRESS": 3, "EMAIL": 1])
    }

    @Test("an attribute whose key names a secret loses its whole value, whatever its type")
    func secretKeys() {
        let record = Self.record(attributes: [
            "password": .string("correct horse battery staple"), "X-Api-Key": .string("k1"), "db.passwd": .string("p"),
            "accessToken": .string("t"), "Authorization": .string("whatever"), "session_id": .string("s"), "pin_secret": .int(1234),
            "set-cookie": .string("a=b"), "tokens_used": .int(150), "user": .string("bob"), "enabled": .bool(true),
        ])
        let stored = StoredLog(record: record, redactor: Redactor(), processedAtStamp: "2026-12-01T10:00:01.000Z")
        let secret = AttributeValue.string("[REDACTED:SECRET]")
        for key in ["password", "X-Api-Key", "db.passwd", "accessToken", "Authorization", "session_id", "pin_secret", "set-cookie"] {
            #expect(stored.attributes?[key] == secret, "\(key)")
        }
        #expect(stored.attributes?["tokens_used"] == .int(150))
        #expect(stored.attributes?["user"] == .string("bob"))
        #expect(stored.attributes?["enabled"] == .bool(true))
        #expect(stored.redactions == ["SECRET": 8])
    }

    @Test(
        "key words: separators, camel case and acronyms; a pattern must end where a word ends",
        arguments: [
            ("password", true), ("userPassword", true), ("USER_PASSWORD", true), ("HTTPAuthorization", true),
            ("http.request.header.authorization", true), ("x-auth-token", true), ("accesstoken", true), ("apikey", true),
            ("api_key_id", true), ("client_secret", true), ("sessionid", true), ("private-key", true),
            ("tokens_used", false), ("passwords_reset_count", false), ("keyboard", false), ("api", false), ("author", false),
            ("secretary", false), ("", false), ("ü_password", true), ("password2", true), ("dbPassword1", true), ("oauth2token", true),
        ])
    func keyMatching(_ key: String, _ expected: Bool) {
        #expect(SecretKeys.default.matches(key) == expected, "\(key)")
    }

    @Test("configured patterns replace the defaults; a tenant's patterns add to them")
    func configuredPatterns() throws {
        let custom = SecretKeys(patterns: ["pin", "otp"])
        #expect(custom.matches("card_pin"))
        #expect(!custom.matches("password"))
        let policy = RedactionPolicy().with(secretKeys: custom, tenantSecretKeys: [TenantID("acme")!: ["member_no"]])
        #expect(policy.redactor(for: TenantID("acme")).secretKeys.matches("MemberNo"))
        #expect(policy.redactor(for: TenantID("acme")).secretKeys.matches("pin"))
        #expect(!policy.redactor(for: TenantID("globex")).secretKeys.matches("member_no"))
        #expect(policy.redactor(for: nil).secretKeys.matches("otp"))
    }

    @Test("a tenant's custom rules apply to attributes too")
    func customRulesOnAttributes() throws {
        let policy = try RedactionPolicy(json: Data(#"{"acme": [{"name": "ORDER", "pattern": "ORD-[0-9]{6}"}]}"#.utf8))
        let record = Self.record(attributes: ["order": .string("ORD-123456")])
        let stored = StoredLog(record: record, redactor: policy.redactor(for: TenantID("acme")), processedAtStamp: "2026-12-01T10:00:01.000Z")
        #expect(stored.attributes?["order"] == .string("[REDACTED:ORDER]"))
        #expect(stored.redactions == ["ORDER": 1])
    }

    @Test("each built-in type is counted under its own name, over every field")
    func countsByType() throws {
        let samples = [RedactionCases.emails[0], RedactionCases.phones[4], RedactionCases.ssns[0], RedactionCases.cards[0], RedactionCases.ips[0]]
        for sample in samples + [RedactionCases.secrets[0]] {
            let record = Self.record(text: "a \(sample.value) b", level: "x", source: "s \(sample.value)", attributes: ["k": .string(sample.value)])
            let stored = StoredLog(record: record, redactor: Redactor(), processedAtStamp: "2026-12-01T10:00:01.000Z")
            #expect(stored.redactions == [sample.type.rawValue: 3], "\(sample)")
            #expect(stored.text == "a \(sample.redacted) b", "\(sample)")
        }
        // All five at once, with a custom rule's count beside them.
        let all = samples.map(\.value).joined(separator: " ; ")
        let rule = try CustomRedactionRule(name: "ORDER", pattern: "ORD-[0-9]{3}")
        let stored = StoredLog(
            record: Self.record(text: all + " ; ORD-123 ORD-456"), redactor: Redactor(customRules: [rule]),
            processedAtStamp: "2026-12-01T10:00:01.000Z")
        #expect(stored.redactions == ["EMAIL": 1, "PHONE": 1, "SSN": 1, "CREDIT_CARD": 1, "IP_ADDRESS": 1, "ORDER": 2])
        #expect(Redactor().redact("nothing here").counts.isEmpty)
    }

    @Test("the timestamp is stored in the one sortable UTC form; a text that is not RFC 3339 is kept")
    func canonicalTimestamp() {
        #expect(StoredLog.canonicalTime("2026-11-29T10:00:00+01:00") == "2026-11-29T09:00:00.000Z")
        #expect(StoredLog.canonicalTime("2026-11-29 10:00:00.123456Z") == "2026-11-29T10:00:00.123Z")
        #expect(StoredLog.canonicalTime("2026-11-29T23:30:00.5-02:30") == "2026-11-30T02:00:00.500Z")
        #expect(StoredLog.canonicalTime("yesterday") == "yesterday")
        #expect(StoredLog.canonicalTime("1969-12-31T23:59:59Z") == "1969-12-31T23:59:59Z")
    }
}
