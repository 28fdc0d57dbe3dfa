/// What to do with a delivery after trying to store it: the pure decision behind retries and parking
/// (docs/architecture.md). Attempts count from 1 (the first delivery) and travel in the `logpipe-attempt` header.
public struct RetryPolicy: Sendable, Hashable {
    /// Delay tiers, one retry queue each (default 1s, 10s, 60s, 10m).
    public var delays: [Duration]
    /// Deliveries in all, the first included (default 5).
    public var maxAttempts: Int

    public init(delays: [Duration] = [.seconds(1), .seconds(10), .seconds(60), .seconds(600)], maxAttempts: Int = 5) {
        precondition(!delays.isEmpty && maxAttempts >= 1)
        self.delays = delays
        self.maxAttempts = maxAttempts
    }

    /// How an attempt ended.
    public enum Outcome: Sendable, Hashable {
        case stored
        /// Worth retrying: store unreachable, timeout, write concern.
        case transient(reason: String)
        /// Never worth retrying: undecodable body, unknown schema version, invalid tenant.
        case permanent(reason: String)
    }

    public enum Decision: Sendable, Hashable {
        case ack
        /// Publish a copy to tier `tier`'s retry queue with `logpipe-attempt` = `nextAttempt`, then ack.
        case retry(tier: Int, delay: Duration, nextAttempt: Int)
        /// Publish a copy to the DLQ with `logpipe-error` = `reason`, then ack.
        case park(reason: String)
    }

    public func decide(_ outcome: Outcome, attempt: Int) -> Decision {
        switch outcome {
        case .stored:
            return .ack
        case .permanent(let reason):
            return .park(reason: reason)
        case .transient(let reason):
            // Parked after the last attempt with the reason of that last failure: what an operator needs to
            // know is why (the store was unreachable); `logpipe-attempt` = the maximum says retries ran out.
            let attempt = max(1, attempt)
            guard attempt < maxAttempts else { return .park(reason: reason) }
            let tier = min(attempt - 1, delays.count - 1)
            return .retry(tier: tier, delay: delays[tier], nextAttempt: attempt + 1)
        }
    }

    /// Parses `1s,10s,60s,10m` (units ms, s, m, h); `nil` when any part is not a positive duration.
    public static func parseDelays(_ text: String) -> [Duration]? {
        let parts = text.split(separator: ",")
        guard !parts.isEmpty else { return nil }
        var delays: [Duration] = []
        for part in parts {
            guard let delay = DurationText.parse(part) else { return nil }
            delays.append(delay)
        }
        return delays
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: Set<Character>) -> Substring {
        var text = self
        while let first = text.first, set.contains(first) { text = text.dropFirst() }
        while let last = text.last, set.contains(last) { text = text.dropLast() }
        return text
    }
}

extension Set<Character> {
    fileprivate static let whitespaces: Set<Character> = [" ", "\t"]
}
