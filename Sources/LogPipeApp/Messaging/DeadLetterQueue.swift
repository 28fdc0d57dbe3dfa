import AMQPBridge
import Foundation
import LogPipeCore

/// A message parked in `<ns>.dlq`, as `logpipe dlq` shows it (headers only: bodies hold unredacted text).
public struct ParkedMessage: Sendable {
    /// 1-based place in the DLQ when the scan started.
    public var position: Int
    public var logID: String?
    public var tenant: String?
    /// `logpipe-error`; for a message the broker dead-lettered by itself, the broker's reason (`delivery_limit`
    /// when a quorum work queue gave up on a message that no worker settled), else `rejected`.
    public var reason: String
    public var attempt: Int
    public var failedAt: String?
    /// Where a replay sends it: the original `tenant.<id>` routing key, if known.
    public var routingKey: String?
    public var bytes: Int
    public let delivery: AMQPDelivery

    init(_ delivery: AMQPDelivery, position: Int, topology: Topology) {
        let headers = delivery.properties.headers
        self.position = position
        self.logID = delivery.properties.messageID
        self.reason = headers[MessageHeader.error]?.stringValue ?? MessageHeader.brokerReason(headers) ?? "rejected"
        self.attempt = delivery.attempt
        self.failedAt = headers[MessageHeader.failedAt]?.stringValue
        self.bytes = delivery.body.count
        self.delivery = delivery
        let original = topology.originalRoutingKey(of: delivery)
        let tenantFromKey = original.hasPrefix("tenant.") ? String(original.dropFirst("tenant.".count)) : nil
        self.tenant = headers[MessageHeader.tenant]?.stringValue ?? tenantFromKey
        if tenantFromKey.flatMap(TenantID.init) != nil {
            self.routingKey = original
        } else {
            self.routingKey = tenant.flatMap(TenantID.init)?.routingKey
        }
    }

    /// How long ago it was parked, when known.
    public func age(now: Date = Date()) -> Duration? {
        guard let failedAt, let parked = UnixTime(rfc3339: failedAt) else { return nil }
        let nowMilliseconds = Int64(now.timeIntervalSince1970 * 1000)
        return .milliseconds(max(0, nowMilliseconds - Int64(parked.milliseconds)))
    }
}

/// Which parked messages a `logpipe dlq` command touches; an empty filter matches all.
public struct ParkedFilter: Sendable, Equatable {
    public var tenant: String?
    public var reason: String?

    public init(tenant: String? = nil, reason: String? = nil) {
        self.tenant = tenant
        self.reason = reason
    }

    public func matches(_ message: ParkedMessage) -> Bool {
        (tenant == nil || message.tenant == tenant) && (reason == nil || message.reason == reason)
    }
}

/// Operations on `<ns>.dlq` that leave everything they do not take exactly where it was.
///
/// A scan subscribes to the DLQ, looks at the messages that were there when it started, in queue order, and
/// holds them unacked; what it takes is acked (after a replay copy was confirmed), everything else is
/// rejected with requeue at the end, which RabbitMQ puts back in its original place. So peek and stats
/// change nothing (except the `redelivered` flag) and a filtered replay or purge keeps the order of the rest.
public struct DeadLetterQueue: Sendable {
    public struct Stats: Sendable, Equatable, Codable {
        public var total: Int
        public var byTenant: [String: Int]
        public var byReason: [String: Int]
        /// Seconds since the oldest known `logpipe-failed-at`.
        public var oldestAgeSeconds: Int?
        /// Messages the broker reported that the scan could not see (held by another consumer).
        public var unseen: Int

        enum CodingKeys: String, CodingKey {
            case total, unseen
            case byTenant = "by_tenant"
            case byReason = "by_reason"
            case oldestAgeSeconds = "oldest_age_seconds"
        }
    }

    public struct ReplayReport: Sendable, Equatable {
        /// Matching messages (up to the limit).
        public var matched: [String?] = []
        /// Sent back to the ingest exchange and removed from the DLQ.
        public var replayed = 0
        /// Matching but left parked: no known tenant routing key.
        public var notReplayable = 0
        /// Matching but left parked: the broker did not confirm the copy.
        public var failed = 0
    }

    let connection: AMQPConnection
    let topology: Topology
    /// How long a scan waits for the next message before deciding the rest is held elsewhere.
    var idleTimeout: Duration = .seconds(2)
    /// Replay copies in flight at once.
    var replayWindow = 256
    /// Most messages one scan holds (unacked, so in memory here): a larger DLQ is seen in part (`stats`
    /// reports the rest as `unseen`; run `replay` or `purge` again for more).
    var scanLimit = 50_000

    public init(connection: AMQPConnection, topology: Topology) {
        self.connection = connection
        self.topology = topology
    }

    enum Verdict { case keep, take }

    /// Counts by tenant and reason, and the oldest age; changes nothing.
    public func stats() async throws -> Stats {
        var stats = Stats(total: 0, byTenant: [:], byReason: [:], oldestAgeSeconds: nil, unseen: 0)
        let now = Date()
        let seen = try await scan { message in
            stats.total += 1
            stats.byTenant[message.tenant ?? "(unknown)", default: 0] += 1
            stats.byReason[message.reason, default: 0] += 1
            if let age = message.age(now: now) {
                stats.oldestAgeSeconds = max(stats.oldestAgeSeconds ?? 0, Int(age.components.seconds))
            }
            return .keep
        }
        stats.unseen = seen.expected - seen.visited
        return stats
    }

    /// The first `limit` matching messages in queue order; changes nothing.
    public func peek(_ filter: ParkedFilter, limit: Int) async throws -> [ParkedMessage] {
        var shown: [ParkedMessage] = []
        _ = try await scan(until: { shown.count >= limit }) { message in
            if filter.matches(message) { shown.append(message) }
            return .keep
        }
        return shown
    }

    /// Sends up to `limit` matching messages back to the ingest exchange with their original routing key
    /// and `log_id`, bookkeeping headers removed (attempts start again), each acked from the DLQ only after
    /// its copy is confirmed. With `dryRun` it only reports what it would send.
    public func replay(_ filter: ParkedFilter, limit: Int, dryRun: Bool) async throws -> ReplayReport {
        var report = ReplayReport()
        var window: [ParkedMessage] = []
        var ackedReceipts = Set<AMQPReceipt>()
        func flush() async throws {
            // In queue order: replayed logs reach the work queue in the order they were parked.
            let failures = await connection.publish(
                window.map { message in
                    var properties = message.delivery.properties
                    properties.deliveryMode = 2
                    for header in MessageHeader.bookkeeping { properties.headers[header] = nil }
                    return AMQPConnection.OutgoingMessage(
                        exchange: topology.ingestExchange, routingKey: message.routingKey ?? "",
                        body: message.delivery.body, properties: properties)
                })
            let outcomes = zip(window, failures).map { ($0.delivery.receipt, $1 == nil) }
            window.removeAll(keepingCapacity: true)
            for (receipt, confirmed) in outcomes {
                if confirmed {
                    try await connection.ack(receipt)
                    ackedReceipts.insert(receipt)
                    report.replayed += 1
                } else {
                    report.failed += 1
                }
            }
        }
        _ = try await scan(until: { report.matched.count >= limit }) { message in
            guard filter.matches(message) else { return .keep }
            report.matched.append(message.logID)
            guard message.routingKey != nil else {
                report.notReplayable += 1
                return .keep
            }
            guard !dryRun else { return .keep }
            window.append(message)
            if window.count >= replayWindow { try await flush() }
            return .keep  // acked by flush once the copy is confirmed
        } beforeRequeue: {
            if !window.isEmpty { try await flush() }
        } acked: {
            ackedReceipts
        }
        return report
    }

    /// Removes every matching message; returns how many.
    public func purge(_ filter: ParkedFilter) async throws -> Int {
        var removed = 0
        _ = try await scan { message in
            guard filter.matches(message) else { return .keep }
            removed += 1
            return .take
        }
        return removed
    }

    /// Visits the messages parked when the scan starts, in order, until `until` says stop; acks the ones
    /// `visit` takes, then requeues everything else in place. Returns how many were expected and visited.
    private func scan(
        until done: () -> Bool = { false },
        _ visit: (ParkedMessage) async throws -> Verdict,
        beforeRequeue: () async throws -> Void = {},
        acked: () -> Set<AMQPReceipt> = { [] }
    ) async throws -> (expected: Int, visited: Int) {
        let status = try await connection.queueStatus(topology.deadLetterQueue)
        let expected = Int(status.messageCount)
        guard expected > 0, !done() else { return (expected, 0) }
        // Kept messages stay unacked until the end, so the prefetch bounds what one scan holds in memory.
        let bound = min(expected, scanLimit, Int(UInt16.max))
        let consumer = connection.consume(queue: topology.deadLetterQueue, prefetch: UInt16(bound))
        var visited = 0
        var received: [AMQPReceipt] = []
        var settled = Set<AMQPReceipt>()
        do {
            while visited < bound, !done(), let delivery = await consumer.next(timeout: idleTimeout) {
                visited += 1
                received.append(delivery.receipt)
                if try await visit(ParkedMessage(delivery, position: visited, topology: topology)) == .take {
                    try await connection.ack(delivery.receipt)
                    settled.insert(delivery.receipt)
                }
            }
            try await beforeRequeue()
            settled.formUnion(acked())
            // One multiple reject puts back every delivery of the scan not yet settled, in its original place;
            // it names the last one still unsettled (a tag already acked would be a channel error).
            if let last = received.last(where: { !settled.contains($0) }) {
                try await connection.nack(last, multiple: true, requeue: true)
            }
        } catch {
            // Cancelling the subscription closes its channel, which also puts back whatever is unacked.
            await consumer.cancelAndWait()
            throw CommandFailure("the DLQ scan stopped (nothing unconfirmed was removed): \(error)")
        }
        // Until the channel is closed, a quorum DLQ hands the requeued messages straight back to this subscription;
        // closing it returns them, and the queue applies that when it sees the channel gone (after it dropped the
        // subscription): wait (bounded) until what the scan did not take is ready again, so the DLQ holds it all
        // when the scan returns and a scan right after sees it.
        await consumer.cancelAndWait()
        let kept = expected - settled.count
        let deadline = ContinuousClock.now + idleTimeout
        while ContinuousClock.now < deadline, let now = try? await connection.queueStatus(topology.deadLetterQueue),
            now.consumerCount > status.consumerCount || Int(now.messageCount) < kept
        {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return (expected, visited)
    }
}
