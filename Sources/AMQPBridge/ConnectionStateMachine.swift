/// The connection thread's decisions, as a value in the manner of postgres-nio's `ConnectionStateMachine`: which
/// node a connect tries first, which subscriptions a connection must (re)make and on which channels, where a
/// delivery goes, which broker closes and cancellations end the connection, and what tearing it down and closing
/// leave to do. It performs no I/O: ``ConnectionLoop`` feeds it what happened and executes the actions it
/// returns (socket, channel and sink calls), so every decision is tested without a broker.
struct ConnectionStateMachine {
    enum State: Equatable {
        case disconnected
        case connected(generation: UInt64, endpoint: Int)
        case closed
    }

    /// A consumer registered with the connection; `channel` is set while its `basic.consume` is live.
    struct Subscription {
        let queue: String
        let prefetch: UInt16
        let sink: AMQPConsumer
        var channel: UInt16?
    }

    /// What the thread does with a delivery.
    enum DeliveryAction {
        /// Hand it to the subscription's buffer.
        case yield(to: AMQPConsumer)
        /// It arrived on the channel of a subscription already removed: closing that channel gave the message
        /// back to its queue (and a nack on the closed channel would be a connection error), so drop it.
        case drop
    }

    /// What the thread does when the broker closes a channel or cancels a subscription.
    enum BrokerAction: Equatable {
        /// Start over on a new connection. Publishing without confirm mode is never acceptable, and a consumer
        /// channel reopened under the same number would restart delivery tags, so receipts of the old one could
        /// ack the wrong messages; a new generation makes every older receipt stale and every consumer
        /// resubscribes (the topology declared again first, so a deleted queue comes back).
        case tearDown
        /// A channel of no subscription's (an RPC's, reopened on next use): nothing to do.
        case ignore
    }

    /// What the thread does for a consumer added or removed.
    enum ConsumerAction {
        /// Subscribe it now, on the live connection.
        case subscribe
        /// End its buffer and, on the live connection, close its channel (which returns its unacked deliveries).
        case finish(AMQPConsumer, closeChannel: UInt16?)
        case none
    }

    /// The first channel a subscription may take: 1 publishes, 2 runs RPCs.
    static let firstConsumerChannel: UInt16 = 3
    /// How often subscriptions that failed are tried again on the same connection.
    static let resubscribeInterval: Duration = .seconds(1)

    let endpointCount: Int
    private(set) var state: State = .disconnected
    /// The generation of the newest connection (0 before the first): receipts of older ones are stale.
    private(set) var generation: UInt64 = 0
    /// The endpoint the next connect tries first: the node of the last connection, or the one after it once that
    /// connection was lost, so a node that died is tried last.
    private(set) var nextEndpoint = 0
    private(set) var subscriptions: [UInt64: Subscription] = [:]
    private var lastResubscribe: ContinuousClock.Instant

    init(endpointCount: Int, now: ContinuousClock.Instant = .now) {
        precondition(endpointCount > 0, "a connection needs an endpoint")
        self.endpointCount = endpointCount
        self.lastResubscribe = now
    }

    // MARK: - Connecting

    /// The endpoints a connect tries, in order.
    var connectOrder: [Int] { (0..<endpointCount).map { (nextEndpoint + $0) % endpointCount } }

    /// A connection is being opened: its generation.
    mutating func connecting() -> UInt64 {
        generation += 1
        return generation
    }

    /// The subscriptions the connection being opened must make, in the order they were registered: every one
    /// without a live channel (all of them after a reconnect).
    var unsubscribed: [UInt64] { subscriptions.keys.sorted().filter { subscriptions[$0]?.channel == nil } }

    /// The connection to `endpoint` is up, its topology declared and its subscriptions made.
    mutating func connected(endpoint: Int) {
        state = .connected(generation: generation, endpoint: endpoint)
        nextEndpoint = endpoint
    }

    /// Opening a connection failed part way (its session destroyed): no subscription holds a channel.
    mutating func connectFailed() {
        state = .disconnected
        clearChannels()
    }

    /// The live connection was lost (a second call for the same loss changes nothing). The next connect starts
    /// at the node after this one's.
    mutating func connectionLost() {
        guard case .connected = state else { return }
        state = .disconnected
        nextEndpoint = (nextEndpoint + 1) % endpointCount
        clearChannels()
    }

    /// Closing for good: the buffers to end (no subscription survives).
    mutating func close() -> [AMQPConsumer] {
        state = .closed
        defer { subscriptions.removeAll() }
        return subscriptions.keys.sorted().compactMap { subscriptions[$0]?.sink }
    }

    // MARK: - Subscriptions

    var isConnected: Bool {
        if case .connected = state { return true }
        return false
    }

    /// Registered consumers without a live subscription now (readiness says the worker is not consuming).
    var consumersDown: Int { subscriptions.values.filter { $0.channel == nil }.count }

    mutating func add(_ id: UInt64, _ subscription: Subscription) -> ConsumerAction {
        subscriptions[id] = subscription
        return isConnected ? .subscribe : .none
    }

    mutating func remove(_ id: UInt64) -> ConsumerAction {
        guard let subscription = subscriptions.removeValue(forKey: id) else { return .none }
        return .finish(subscription.sink, closeChannel: isConnected ? subscription.channel : nil)
    }

    /// The channel for a new subscription: the lowest no live subscription holds.
    var freeChannel: UInt16 {
        let used = Set(subscriptions.values.compactMap(\.channel))
        return (Self.firstConsumerChannel...UInt16.max).first { !used.contains($0) }!
    }

    mutating func subscribed(_ id: UInt64, channel: UInt16) {
        subscriptions[id]?.channel = channel
    }

    /// Subscriptions to try again now, on the same connection: those whose `basic.consume` failed (no such queue
    /// yet), once a second. They received nothing, so no receipt of theirs can be confused with a later one's.
    mutating func resubscribeDue(now: ContinuousClock.Instant) -> [UInt64] {
        guard isConnected, now - lastResubscribe >= Self.resubscribeInterval else { return [] }
        let due = unsubscribed
        if !due.isEmpty { lastResubscribe = now }
        return due
    }

    // MARK: - What the broker sends

    func delivery(onChannel channel: UInt16) -> DeliveryAction {
        guard let subscription = subscriptions.values.first(where: { $0.channel == channel }) else { return .drop }
        return .yield(to: subscription.sink)
    }

    func channelClosed(_ channel: UInt16, publishChannel: UInt16) -> BrokerAction {
        channel == publishChannel || holdsChannel(channel) ? .tearDown : .ignore
    }

    func subscriptionCancelled(onChannel channel: UInt16) -> BrokerAction {
        holdsChannel(channel) ? .tearDown : .ignore
    }

    private func holdsChannel(_ channel: UInt16) -> Bool {
        subscriptions.values.contains { $0.channel == channel }
    }

    private mutating func clearChannels() {
        for id in subscriptions.keys { subscriptions[id]?.channel = nil }
    }
}
