import AMQPBridge
import LogPipeCore

/// The application headers of retried and parked messages (docs/architecture.md). RabbitMQ 4 ignores client-set
/// `x-death`, so retry bookkeeping is logpipe's own.
public enum MessageHeader {
    /// Deliveries so far, counting from 1; absent on a first delivery.
    public static let attempt = "logpipe-attempt"
    /// The short reason code of the last failure (never log content).
    public static let error = "logpipe-error"
    /// When the last failure happened (RFC 3339, UTC).
    public static let failedAt = "logpipe-failed-at"
    /// The routing key the log was first published with (`tenant.<id>`).
    public static let routingKey = "logpipe-routing-key"
    /// The tenant, set by the API on every message.
    public static let tenant = "x-tenant-id"

    /// What the broker adds when it dead-letters a message (TTL expiry of a retry tier, the delivery limit of a
    /// quorum queue) or redelivers it from a quorum queue. Copies leave them behind: a copy starts a new history.
    static let broker: Set<String> = [
        "x-death", "x-first-death-exchange", "x-first-death-queue", "x-first-death-reason",
        "x-last-death-exchange", "x-last-death-queue", "x-last-death-reason", "x-delivery-count",
    ]
    /// Headers the pipeline adds along the way; a replay removes them so the log starts afresh.
    static let bookkeeping: Set<String> = broker.union([attempt, error, failedAt, routingKey])

    /// The reason of the broker's latest dead-lettering of a message (`x-death` lists the newest first):
    /// `delivery_limit` for a message a quorum work queue delivered too often without an ack (a worker crashed
    /// or was killed on it every time), `rejected`, `expired`, `maxlen`.
    static func brokerReason(_ headers: [String: AMQPFieldValue]) -> String? {
        if let reason = headers["x-death"]?.arrayValue?.first?.tableValue?["reason"]?.stringValue { return reason }
        return headers["x-last-death-reason"]?.stringValue ?? headers["x-first-death-reason"]?.stringValue
    }
}

extension AMQPDelivery {
    /// Which delivery this is (1 for the first; from `logpipe-attempt`).
    public var attempt: Int {
        Int(clamping: max(1, properties.headers[MessageHeader.attempt]?.intValue ?? 1))
    }

}

extension Topology {
    /// The routing key a delivery's log was first published with. The broker's own routing key, except for a
    /// copy the pipeline moved (``MessageMover``): one coming back from a retry queue (through the default
    /// exchange to a work queue, or through the shard exchange from a retry queue) or parked in the DLQ, whose
    /// mover recorded the original in `logpipe-routing-key`. On anything published to the ingest exchange
    /// that header is ignored: a publisher allowed only `tenant.x` must not name another tenant's key in it.
    /// (Publishers get write permission on `<ns>.ingest` only; docs/operations.md.)
    public func originalRoutingKey(of delivery: AMQPDelivery) -> String {
        // What the API published carries no such header: the usual case is decided by one lookup.
        guard let recorded = delivery.properties.headers[MessageHeader.routingKey]?.stringValue else { return delivery.routingKey }
        let moved =
            (delivery.exchange.isEmpty && (workQueues.contains(delivery.routingKey) || delivery.routingKey == deadLetterQueue))
            || (delivery.exchange == shardExchange && retryQueues.contains(delivery.routingKey))
        return moved ? recorded : delivery.routingKey
    }
}

/// Moves a delivery to a retry queue or to the DLQ: publishes a persistent copy with a confirm (the
/// caller acks the original only after that), through the default exchange straight to the queue.
struct MessageMover: Sendable {
    let connection: any WorkChannel
    let topology: Topology

    /// Copies `delivery` to retry tier `tier`, to come back to the work queue after that tier's delay.
    func retry(_ delivery: AMQPDelivery, tier: Int, nextAttempt: Int, reason: String) async throws {
        try await copy(delivery, to: topology.retryQueue(tier: tier), attempt: nextAttempt, reason: reason)
    }

    /// Copies `delivery` to the DLQ with its reason.
    func park(_ delivery: AMQPDelivery, reason: String) async throws {
        try await copy(delivery, to: topology.deadLetterQueue, attempt: delivery.attempt, reason: reason)
    }

    private func copy(_ delivery: AMQPDelivery, to queue: String, attempt: Int, reason: String) async throws {
        var properties = delivery.properties
        properties.deliveryMode = 2
        for header in MessageHeader.broker { properties.headers[header] = nil }
        properties.headers[MessageHeader.attempt] = .int(Int64(attempt))
        properties.headers[MessageHeader.error] = .string(reason)
        properties.headers[MessageHeader.failedAt] = .string(UnixTime.now.rfc3339)
        properties.headers[MessageHeader.routingKey] = .string(topology.originalRoutingKey(of: delivery))
        try await connection.publish(
            exchange: "", routingKey: queue, body: delivery.body, properties: properties,
            mandatory: true)
    }
}
