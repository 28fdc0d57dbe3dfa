/// A token bucket: `rate` tokens a second up to `capacity` (the burst). Pure: the caller passes the time.
public struct TokenBucket: Sendable, Hashable {
    public var rate: Double
    public var capacity: Double
    public private(set) var tokens: Double
    private var updatedAt: Double

    /// A full bucket at time `now` (seconds on any monotonic clock).
    public init(rate: Double, capacity: Double, now: Double) {
        precondition(rate > 0 && capacity > 0)
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updatedAt = now
    }

    /// Seconds until `cost` could be taken (0 = now). A cost above the capacity needs a full bucket and
    /// leaves it in debt, so large batches pass at the configured average rather than never.
    public mutating func wait(for cost: Double, now: Double) -> Double {
        refill(now)
        let needed = min(cost, capacity)
        return tokens >= needed ? 0 : (needed - tokens) / rate
    }

    /// Takes `cost` tokens (the caller checked ``wait(for:now:)`` first).
    public mutating func take(_ cost: Double, now: Double) {
        refill(now)
        tokens -= cost
    }

    /// True when the bucket is full again (and so may be forgotten).
    public mutating func isFull(now: Double) -> Bool {
        refill(now)
        return tokens >= capacity
    }

    private mutating func refill(_ now: Double) {
        if now > updatedAt {
            tokens = min(capacity, tokens + (now - updatedAt) * rate)
            updatedAt = now
        }
    }
}
