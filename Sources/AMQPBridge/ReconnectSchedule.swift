/// When the connection thread connects again, as a value: exponential backoff between failed connects, and after a
/// connection that lasted under ``stableAfter`` too (a subscription the broker keeps cancelling, a channel error
/// that comes back: no reconnect storm); a connection that lasted longer starts the backoff afresh. A topology
/// the broker refuses stays refused until an operator acts, so it is tried again seldom. The thread asks it and
/// waits as told; tested without a broker.
struct ReconnectSchedule {
    let initialDelay: Duration
    let maxDelay: Duration
    let topologyRetryDelay: Duration
    let stableAfter: Duration = .seconds(5)
    /// The next wait of the backoff.
    private var delay: Duration
    /// When the current or last connection was made; nil before the first and after a failed connect.
    private var connectedAt: ContinuousClock.Instant?

    init(initialDelay: Duration, maxDelay: Duration, topologyRetryDelay: Duration) {
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
        self.topologyRetryDelay = topologyRetryDelay
        self.delay = initialDelay
    }

    init(_ configuration: AMQPConfiguration) {
        self.init(
            initialDelay: configuration.initialReconnectDelay, maxDelay: configuration.maxReconnectDelay,
            topologyRetryDelay: configuration.topologyRetryDelay)
    }

    /// Before connecting (again): how long to wait first, or nil for at once.
    mutating func beforeConnect(now: ContinuousClock.Instant) -> Duration? {
        defer { connectedAt = nil }
        guard let since = connectedAt else { return nil }
        guard now - since < stableAfter else {
            delay = initialDelay
            return nil
        }
        return backOff()
    }

    mutating func connected(at now: ContinuousClock.Instant) {
        connectedAt = now
    }

    /// After a connect that failed on every endpoint: how long to wait before the next.
    mutating func failed(topologyMismatch: Bool) -> Duration {
        let wait = backOff()
        return topologyMismatch ? max(wait, topologyRetryDelay) : wait
    }

    private mutating func backOff() -> Duration {
        defer { delay = min(delay * 2, maxDelay) }
        return delay
    }
}
