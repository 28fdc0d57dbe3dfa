import AMQPBridge
import LogPipeCore
import Logging

/// A batch decoded, checked and redacted: the logs to write and, for each delivery, what becomes of it unless
/// its logs fail to be written.
struct PreparedBatch: Sendable {
    var deliveries: [AMQPDelivery]
    var outcomes: [RetryPolicy.Outcome]
    var logs: [StoredLog]
    /// For each log, the index of the delivery it came in.
    var logDeliveries: [Int]
}

/// The first step of every batch, pure (no broker, no store): decodes each delivery, refuses what may not be
/// stored and redacts the rest.
struct WorkPreparation: Sendable {
    let topology: Topology
    let validation: WorkValidation
    let redaction: RedactionPolicy
    let logger: Logger

    /// Decodes, checks and redacts a batch. What cannot be decoded, breaks the API's rules, names a reserved
    /// tenant, or names a tenant other than the one it was routed for is marked for the DLQ.
    func prepare(_ batch: [AMQPDelivery]) -> PreparedBatch {
        let clock = UnixTime.now
        let now = clock.rfc3339
        var prepared = PreparedBatch(deliveries: batch, outcomes: .init(repeating: .stored, count: batch.count), logs: [], logDeliveries: [])
        prepared.logs.reserveCapacity(batch.count)
        for (index, delivery) in batch.enumerated() {
            let records: [LogRecord]
            do {
                records = try WorkMessage.decode(delivery.body)
            } catch {
                prepared.outcomes[index] = .permanent(reason: WorkMessage.reason(error))
                continue
            }
            if let refusal = WorkMessage.refusal(records, routedAs: delivery, topology: topology) {
                prepared.outcomes[index] = .permanent(reason: refusal)
                continue
            }
            if let field = records.lazy.compactMap({ validation.problem($0, now: clock) }).first {
                prepared.outcomes[index] = .permanent(reason: "invalid_message")
                logger.warning(
                    "a work message breaks the API's rules; it goes to the DLQ",
                    metadata: ["amqp.delivery_tag": "\(delivery.deliveryTag)", "message.field": "\(field)"])
                continue
            }
            for record in records {
                prepared.logs.append(StoredLog(record: record, redactor: redaction.redactor(for: record.tenantID), processedAtStamp: now))
                prepared.logDeliveries.append(index)
            }
        }
        return prepared
    }
}

/// How a worker cuts what it takes from a subscription into batches and store writes: the batching policy lives
/// with the worker, and the consumer only buffers, lingers as told and hands out deliveries.
enum WorkBatching {
    /// Deliveries per batch: two batches fit in the prefetch window, so that while one is written the broker can
    /// fill the next.
    static func messagesPerBatch(prefetch: Int, batchSize: Int) -> Int {
        max(1, min(batchSize, prefetch / 2))
    }

    /// How long a batch that is not full waits for more once its first delivery is there: while the store writes
    /// the previous batch, until that write ends (the worker then wakes the consumer); with the store idle, for up
    /// to the flush interval. There is nothing else to do meanwhile.
    static func linger(storeWriting: Bool, flushInterval: Duration) -> AMQPConsumer.Linger {
        if storeWriting { return .untilWoken }
        return flushInterval > .zero ? .upTo(flushInterval) : .none
    }

    /// Consecutive ranges of `deliveries`, each one store write of at most `batchSize` logs (batch chunks hold
    /// many logs, header `logpipe-count`); a delivery that holds more is a write of its own.
    static func writes(_ deliveries: [AMQPDelivery], batchSize: Int) -> [Range<Int>] {
        let batchSize = max(1, batchSize)
        var ranges: [Range<Int>] = []
        var start = 0
        while start < deliveries.count {
            var end = start
            var logs = 0
            while end < deliveries.count, end == start || logs + logCount(deliveries[end]) <= batchSize {
                logs += logCount(deliveries[end])
                end += 1
            }
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }

    /// The logs a message says it holds (`logpipe-count`), bounded: the header comes from the broker, and sums
    /// of it must not overflow whatever it says.
    static func logCount(_ delivery: AMQPDelivery) -> Int {
        Int(clamping: min(max(1, delivery.properties.headers["logpipe-count"]?.intValue ?? 1), 1_000_000))
    }
}

/// Decoding of `<ns>.work` message bodies (docs/architecture.md, schema version 1).
enum WorkMessage {
    /// A short reason code for a message that cannot be decoded (never the decoder's text: it may quote the body).
    static func reason(_ error: any Error) -> String {
        (error as? WorkBody.DecodeFailure)?.reason ?? "undecodable"
    }

    static func decode(_ body: [UInt8]) throws -> [LogRecord] {
        try WorkBody.parse(body)
    }

    /// Why the decoded logs of a delivery must not be stored, or `nil`: a log of a tenant that the stores
    /// reserve (`reserved_tenant`), or of a tenant other than the routing key's `tenant.<id>` and the
    /// `x-tenant-id` header (`tenant_mismatch`: anyone with broker credentials could otherwise write into
    /// any tenant by naming it in the body). The routing key is the one the broker delivered with, or for a
    /// copy coming back from a retry queue the one its mover recorded (``Topology/originalRoutingKey(of:)``).
    static func refusal(_ records: [LogRecord], routedAs delivery: AMQPDelivery, topology: Topology) -> String? {
        // A header that is not a string names no tenant: it cannot match.
        let header = delivery.properties.headers[MessageHeader.tenant].map { $0.stringValue ?? "" }
        return TenantRouting.refusal(
            records.lazy.map(\.tenantID), routingKey: topology.originalRoutingKey(of: delivery), headerTenant: header)
    }
}
