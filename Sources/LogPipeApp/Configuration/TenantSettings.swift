import Foundation
import LogPipeCore

/// Everything the tenants file says, the one type it is read into:
///
///     {"acme": {"rate": 500, "retention": "7d", "secret_keys": ["pin", "member_no"]},
///      "audit": {"retention": "forever"}}
///
/// The rate limits (`rate`, `burst`, `bytes_rate`, `bytes_burst`) override the `LOGPIPE_RATE_*` defaults for the
/// tenant; `retention` overrides `LOGPIPE_RETENTION`; `secret_keys` adds to the secret attribute keys.
public struct TenantSettings: Sendable, Equatable {
    public var rateLimits: [String: RateLimits.Limit] = [:]
    public var retention: [TenantID: Duration?] = [:]
    public var secretKeys: [TenantID: [String]] = [:]

    public init() {}

    public static func parse(_ data: Data) throws(ConfigurationError) -> TenantSettings {
        func failure(_ message: String) -> ConfigurationError {
            ConfigurationError(variable: "LOGPIPE_TENANTS_FILE", message: message)
        }
        let entries: [String: Entry]
        do {
            entries = try JSONDecoder().decode([String: Entry].self, from: data)
        } catch {
            // A value that is not an object of settings names its tenant; anything else is the file's shape.
            if case .typeMismatch(_, let context) = error as? DecodingError, let name = context.codingPath.first?.stringValue,
                context.codingPath.count == 1
            {
                throw failure("has an entry \"\(name.prefix(64))\" that is not a tenant id with an object of settings")
            }
            throw failure("must be a JSON object of tenant ids to settings")
        }
        var settings = TenantSettings()
        for (name, entry) in entries {
            guard let tenant = TenantID(name) else {
                throw failure("has an entry \"\(name.prefix(64))\" that is not a tenant id with an object of settings")
            }
            guard let limit = entry.limit,
                [limit.rate, limit.burst, limit.bytesRate, limit.bytesBurst].allSatisfy({ ($0 ?? 1) > 0 && ($0 ?? 1).isFinite })
            else {
                throw failure("tenant \(tenant): rate, burst, bytes_rate and bytes_burst must be positive numbers")
            }
            if limit != RateLimits.Limit() { settings.rateLimits[name] = limit }
            if let text = entry.retention {
                guard let text, let period = RetentionPolicy.parse(text) else {
                    throw failure("tenant \(tenant): retention must be a duration such as 30d or 12h, or \"forever\"")
                }
                settings.retention[tenant] = period
            }
            if let keys = entry.secretKeys {
                guard let keys, keys.allSatisfy({ !$0.isEmpty }) else {
                    throw failure("tenant \(tenant): secret_keys must be a list of non-empty strings")
                }
                settings.secretKeys[tenant] = keys
            }
        }
        return settings
    }

    /// One tenant's entry. Each setting is nil when absent and `.some(nil)` when present with the wrong type,
    /// so the error can name the setting; the rate limits are nil when one of them is not a number.
    private struct Entry: Decodable {
        var limit: RateLimits.Limit?
        var retention: String??
        var secretKeys: [String]??

        enum CodingKeys: String, CodingKey {
            case retention
            case secretKeys = "secret_keys"
        }

        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            limit = try? RateLimits.Limit(from: decoder)
            retention = container.contains(.retention) ? .some(try? container.decode(String.self, forKey: .retention)) : nil
            secretKeys = container.contains(.secretKeys) ? .some(try? container.decode([String].self, forKey: .secretKeys)) : nil
        }
    }
}
