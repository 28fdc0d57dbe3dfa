import LogPipeCore
import Testing

@Suite("Tenant routing of work messages")
struct TenantRoutingTests {
    @Test("a log is stored only for the tenant its routing key and header name; a reserved tenant never")
    func refusal() {
        let acme = TenantID("acme")!
        #expect(TenantRouting.refusal([acme, acme], routingKey: "tenant.acme", headerTenant: "acme") == nil)
        #expect(TenantRouting.refusal([acme], routingKey: "tenant.acme", headerTenant: nil) == nil)
        #expect(TenantRouting.refusal([acme], routingKey: "tenant.other", headerTenant: nil) == "tenant_mismatch")
        #expect(TenantRouting.refusal([acme], routingKey: "tenant.acme", headerTenant: "other") == "tenant_mismatch")
        #expect(TenantRouting.refusal([acme, TenantID("other")!], routingKey: "tenant.acme", headerTenant: nil) == "tenant_mismatch")
        #expect(TenantRouting.refusal([acme], routingKey: "acme", headerTenant: nil) == "tenant_mismatch")
        #expect(TenantRouting.refusal([TenantID("sqlite_x")!], routingKey: "tenant.sqlite_x", headerTenant: nil) == "reserved_tenant")
    }
}
