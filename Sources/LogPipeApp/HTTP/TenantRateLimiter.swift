import Foundation
import LogPipeCore
import Synchronization

/// Per-tenant ingestion limits: logs/s and bytes/s, each with a burst. Unset = unlimited.
public struct RateLimits: Sendable, Equatable {
    public struct Limit: Sendable, Equatable, Codable {
        public var rate: Double?
        public var burst: Double?
        public var bytesRate: Double?
        public var bytesBurst: Double?

        public init(rate: Double? = nil, burst: Double? = nil, bytesRate: Double? = nil, bytesBurst: Double? = nil) {
            self.rate = rate
            self.burst = burst
            self.bytesRate = bytesRate
            self.bytesBurst = bytesBurst
        }

        /// The fields of `override` that are set, over these.
        func merged(with override: Limit) -> Limit {
            Limit(
                rate: override.rate ?? rate, burst: override.burst ?? burst,
                bytesRate: override.bytesRate ?? bytesRate, bytesBurst: override.bytesBurst ?? bytesBurst)
        }

        var isUnlimited: Bool { rate == nil && bytesRate == nil }

        enum CodingKeys: String, CodingKey {
            case rate, burst
            case bytesRate = "bytes_rate"
            case bytesBurst = "bytes_burst"
        }
    }

    /// For every tenant (`LOGPIPE_TENANT_RATE`, `…_BURST`, `…_BYTES_RATE`, `…_BYTES_BURST`).
    public var defaults = Limit()
    /// Per tenant, from the tenants file (`{"acme": {"rate": 500, "burst": 1000}}`, ``TenantSettings``).
    public var overrides: [String: Limit] = [:]

    public init() {}

    public func limit(for tenant: TenantID) -> Limit {
        overrides[tenant.rawValue].map { defaults.merged(with: $0) } ?? defaults
    }

    public var isUnlimited: Bool { defaults.isUnlimited && overrides.values.allSatisfy { defaults.merged(with: $0).isUnlimited } }
}

/// Token buckets per tenant. A request is admitted only if every tenant in it can pay, and then all pay, so
/// one tenant's limit never blocks another's logs. Full buckets are forgotten, so memory follows the
/// tenants that are actually being limited.
final class TenantRateLimiter: Sendable {
    private struct Buckets {
        var logs: TokenBucket?
        var bytes: TokenBucket?
    }

    let limits: RateLimits
    private let buckets = Mutex<[TenantID: Buckets]>([:])
    private let start = ContinuousClock.now

    init(limits: RateLimits) {
        self.limits = limits
    }

    /// Charges `costs`; returns nil when admitted, else the seconds until the request could pass.
    func admit(_ costs: [TenantID: (logs: Int, bytes: Int)]) -> Double? {
        guard !limits.isUnlimited else { return nil }
        let elapsed = ContinuousClock.now - start
        let now = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        return buckets.withLock { table -> Double? in
            var wait = 0.0
            for (tenant, cost) in costs {
                var entry = table[tenant] ?? makeBuckets(tenant, now: now)
                wait = max(
                    wait, entry.logs?.wait(for: Double(cost.logs), now: now) ?? 0,
                    entry.bytes?.wait(for: Double(cost.bytes), now: now) ?? 0)
                table[tenant] = entry
            }
            guard wait == 0 else { return wait }
            for (tenant, cost) in costs {
                table[tenant]?.logs?.take(Double(cost.logs), now: now)
                table[tenant]?.bytes?.take(Double(cost.bytes), now: now)
            }
            if table.count > 10_000 { forgetFull(&table, now: now) }
            return nil
        }
    }

    private func makeBuckets(_ tenant: TenantID, now: Double) -> Buckets {
        let limit = limits.limit(for: tenant)
        return Buckets(
            logs: limit.rate.map { TokenBucket(rate: $0, capacity: limit.burst ?? $0, now: now) },
            bytes: limit.bytesRate.map { TokenBucket(rate: $0, capacity: limit.bytesBurst ?? $0, now: now) })
    }

    private func forgetFull(_ table: inout [TenantID: Buckets], now: Double) {
        for tenant in Array(table.keys) {
            var entry = table[tenant]!
            if entry.logs?.isFull(now: now) ?? true, entry.bytes?.isFull(now: now) ?? true { table[tenant] = nil }
        }
    }
}
