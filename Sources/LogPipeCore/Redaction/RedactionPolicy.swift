import Foundation

/// Which custom rules apply to which tenant, on top of the built-in types.
///
/// Configuration (JSON, `LOGPIPE_REDACTION_RULES_FILE`): tenant ids, or `"*"` for every tenant, mapped to
/// lists of rules: `{"*": [{"name": "API_TOKEN", "pattern": "tok_[A-Za-z0-9]{24}"}], "acme": [...]}`.
///
/// Secret attribute keys: ``SecretKeys/default`` or `LOGPIPE_SECRET_KEYS` for every tenant, plus a tenant's own
/// (`secret_keys` in the tenants file).
public struct RedactionPolicy: Sendable {
    private let byTenant: [TenantID: Redactor]
    private let fallback: Redactor

    /// Only the built-in types, with the default secret keys.
    public init() {
        byTenant = [:]
        fallback = Redactor()
    }

    /// The same rules with other secret keys: `secretKeys` for every tenant, and per tenant more of them.
    public func with(secretKeys: SecretKeys, tenantSecretKeys: [TenantID: [String]] = [:]) -> RedactionPolicy {
        var byTenant: [TenantID: Redactor] = [:]
        for (tenant, redactor) in self.byTenant {
            byTenant[tenant] = Redactor(customRules: redactor.customRules, secretKeys: secretKeys.adding(tenantSecretKeys[tenant] ?? []))
        }
        for (tenant, keys) in tenantSecretKeys where byTenant[tenant] == nil {
            byTenant[tenant] = Redactor(customRules: fallback.customRules, secretKeys: secretKeys.adding(keys))
        }
        return RedactionPolicy(byTenant: byTenant, fallback: Redactor(customRules: fallback.customRules, secretKeys: secretKeys))
    }

    private init(byTenant: [TenantID: Redactor], fallback: Redactor) {
        self.byTenant = byTenant
        self.fallback = fallback
    }

    /// Parses the JSON configuration; every problem is an error naming the tenant and the rule.
    public init(json: Data) throws(RedactionRuleError) {
        let object: [String: [[String: String]]]
        do {
            object = try JSONDecoder().decode([String: [[String: String]]].self, from: json)
        } catch {
            throw RedactionRuleError(rule: "*", message: "the rules file must be a JSON object of tenant → [{\"name\", \"pattern\"}]")
        }
        func rules(_ key: String) throws(RedactionRuleError) -> [CustomRedactionRule] {
            var result: [CustomRedactionRule] = []
            for entry in object[key] ?? [] {
                guard let name = entry["name"], let pattern = entry["pattern"] else {
                    throw RedactionRuleError(rule: "\(key)/?", message: "every rule needs a \"name\" and a \"pattern\"")
                }
                do {
                    result.append(try CustomRedactionRule(name: name, pattern: pattern))
                } catch {
                    throw RedactionRuleError(rule: "\(key)/\(name)", message: error.message)
                }
            }
            return result
        }
        let shared = try rules("*")
        var byTenant: [TenantID: Redactor] = [:]
        for key in object.keys where key != "*" {
            guard let tenant = TenantID(key) else {
                throw RedactionRuleError(rule: key, message: "not a valid tenant id (or \"*\" for every tenant)")
            }
            byTenant[tenant] = Redactor(customRules: shared + (try rules(key)))
        }
        self.byTenant = byTenant
        self.fallback = Redactor(customRules: shared)
    }

    /// The engine for one tenant: built-ins, then the shared rules, then the tenant's own.
    public func redactor(for tenant: TenantID?) -> Redactor {
        tenant.flatMap { byTenant[$0] } ?? fallback
    }
}
