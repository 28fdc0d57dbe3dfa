import Foundation

/// How long stored logs are kept (docs/operations.md): `LOGPIPE_RETENTION` for every tenant, overridden per tenant by
/// `retention` in the tenants file. `nil` keeps logs forever. Age is counted from `received_at`.
public struct RetentionPolicy: Sendable, Equatable {
    public var period: Duration?
    /// Per tenant; a `nil` value keeps that tenant's logs forever whatever `period` says.
    public var overrides: [TenantID: Duration?]

    public init(period: Duration? = nil, overrides: [TenantID: Duration?] = [:]) {
        self.period = period
        self.overrides = overrides
    }

    public func period(for tenant: TenantID) -> Duration? {
        if let override = overrides[tenant] { return override }
        return period
    }

    /// Whether no tenant's logs ever expire.
    public var keepsEverything: Bool { period == nil && overrides.values.allSatisfy { $0 == nil } }

    /// `30d`, `12h`, `2w`…, or `forever`: `.some(nil)` for forever, `nil` for text that is neither.
    public static func parse(_ text: String) -> Duration?? {
        if text.trimmingCharacters(in: .whitespaces).lowercased() == "forever" { return .some(nil) }
        guard let period = DurationText.parse(text), period >= .seconds(1) else { return nil }
        return .some(period)
    }
}
