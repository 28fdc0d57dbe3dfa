import Foundation
import LogPipeCore
import Testing

@Suite("Custom redaction rules")
struct CustomRuleTests {
    @Test("tenant rules apply after the built-ins, with the same mask, never inside a mask")
    func tenantRules() throws {
        let policy = try RedactionPolicy(
            json: Data(
                #"""
                {"*": [{"name": "API_TOKEN", "pattern": "tok_[A-Za-z0-9]{8}"}],
                 "acme": [{"name": "EMPLOYEE_ID", "pattern": "EMP-[0-9]{6}"}, {"name": "WORDS", "pattern": "[A-Z]{5,}"}]}
                """#.utf8))
        let acme = policy.redactor(for: TenantID("acme"))
        let result = acme.redact("EMP-123456 used tok_abcdEFGH from 10.0.0.1 SHOUTING")
        #expect(result.text == "[REDACTED:EMPLOYEE_ID] used [REDACTED:API_TOKEN] from [REDACTED:IP_ADDRESS] [REDACTED:WORDS]")
        #expect(result.counts == ["EMPLOYEE_ID": 1, "API_TOKEN": 1, "IP_ADDRESS": 1, "WORDS": 1])
        let other = policy.redactor(for: TenantID("other"))
        #expect(other.redact("EMP-123456 tok_abcdEFGH").text == "EMP-123456 [REDACTED:API_TOKEN]")
        #expect(policy.redactor(for: nil).redact("tok_abcdEFGH").counts == ["API_TOKEN": 1])
    }

    @Test(
        "invalid rules are clear errors naming tenant and rule",
        arguments: [
            (#"{"acme": [{"name": "BAD", "pattern": "([a-z"}]}"#, "acme/BAD"),
            (#"{"acme": [{"name": "lower", "pattern": "x"}]}"#, "acme/lower"),
            (#"{"acme": [{"name": "EMPTY", "pattern": "a*"}]}"#, "acme/EMPTY"),
            (#"{"acme": [{"name": "EMAIL", "pattern": "x"}]}"#, "acme/EMAIL"),
            (#"{"Acme!": [{"name": "X", "pattern": "x"}]}"#, "Acme!"),
            (#"{"acme": [{"pattern": "x"}]}"#, "acme/?"),
            (#"["not", "an", "object"]"#, "*"),
        ])
    func invalid(_ json: String, _ rule: String) {
        do {
            _ = try RedactionPolicy(json: Data(json.utf8))
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.rule == rule)
            #expect(!error.message.isEmpty)
        }
    }
}
