import Foundation
import LogPipeCore

/// What the tenants file says besides rate limits (``RateLimits/parseOverrides(_:)`` reads those):
///
///     {"acme": {"rate": 500, "retention": "7d", "secret_keys": ["pin", "member_no"]},
///      "audit": {"retention": "forever"}}
///
/// `retention` overrides `LOGPIPE_RETENTION` for the tenant; `secret_keys` adds to the secret attribute keys.
public struct TenantSettings: Sendable, Equatable {
    public var retention: [TenantID: Duration?] = [:]
    public var secretKeys: [TenantID: [String]] = [:]

    public init() {}

    public static func parse(_ data: Data) throws(ConfigurationError) -> TenantSettings {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: "LOGPIPE_TENANTS_FILE", message: message)
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw failure("must be a JSON object of tenant ids to settings")
        }
        var settings = TenantSettings()
        for (name, value) in object {
            guard let tenant = TenantID(name), let entry = value as? [String: Any] else {
                throw failure("has an entry \"\(name.prefix(64))\" that is not a tenant id with an object of settings")
            }
            if let text = entry["retention"] {
                guard let text = text as? String, let period = RetentionPolicy.parse(text) else {
                    throw failure("tenant \(tenant): retention must be a duration such as 30d or 12h, or \"forever\"")
                }
                settings.retention[tenant] = period
            }
            if let keys = entry["secret_keys"] {
                guard let keys = keys as? [String], keys.allSatisfy({ !$0.isEmpty }) else {
                    throw failure("tenant \(tenant): secret_keys must be a list of non-empty strings")
                }
                settings.secretKeys[tenant] = keys
            }
        }
        return settings
    }
}
