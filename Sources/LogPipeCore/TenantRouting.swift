/// Which tenant a work message may write into, decided from what the broker says of it: the worker trusts the
/// routing key (`tenant.<id>`, as the API publishes) and the `x-tenant-id` header, never the body alone, since
/// anyone with broker credentials could otherwise write into any tenant by naming it in the body. Beside
/// ``RetryPolicy``: both turn what the worker sees of a message into what becomes of it.
public enum TenantRouting {
    /// Why the logs of `tenants` (each log's, in order) must not be stored from a message routed with
    /// `routingKey` and carrying `headerTenant`, or `nil`: a tenant other than the routing key's or the header's
    /// (`tenant_mismatch`), or one the stores reserve (`reserved_tenant`).
    public static func refusal(_ tenants: some Sequence<TenantID>, routingKey: String, headerTenant: String?) -> String? {
        guard routingKey.hasPrefix("tenant.") else { return "tenant_mismatch" }
        let routed = routingKey.dropFirst("tenant.".count)
        if let headerTenant, headerTenant != routed { return "tenant_mismatch" }
        for tenant in tenants {
            if tenant.rawValue != routed { return "tenant_mismatch" }
            if tenant.isReserved { return "reserved_tenant" }
        }
        return nil
    }
}
