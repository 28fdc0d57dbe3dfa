import LogPipeCore
import Testing

@Suite("Tenant ids")
struct TenantIDTests {
    @Test(
        "valid tenant ids",
        arguments: [
            "a", "0", "acme", "acme_corp", "acme-corp", "a1", "9lives", "a-", "a_",
            String(repeating: "a", count: 63), "tenant-01_eu",
        ])
    func valid(_ value: String) {
        #expect(TenantID(value)?.rawValue == value)
        #expect(TenantID(value)?.routingKey == "tenant.\(value)")
    }

    @Test(
        "invalid tenant ids",
        arguments: [
            "", "../x", "a.b", "$x", "A", "Acme", "-a", "_a", "a b", "a*", "a#", "a/b", "système", "a\u{0}",
            String(repeating: "a", count: 64), String(repeating: "a", count: 65), "system.users", " a", "a\n",
        ])
    func invalid(_ value: String) {
        #expect(TenantID(value) == nil)
    }
}
