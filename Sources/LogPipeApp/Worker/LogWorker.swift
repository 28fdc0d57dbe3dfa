import AMQPBridge
import Foundation
import LogPipeCore
import Logging
import ServiceLifecycle
import Synchronization

/// Consumes the work queues (`<ns>.work`, or its shards), decodes, redacts and stores logs in batches, and settles the batch with one
/// multiple-ack once every message is either stored or moved: a transient failure (store unreachable,
/// timeout, write concern) moves the message to the next retry tier, a permanent one (undecodable, unknown
/// schema, invalid tenant, refused by the store) or the last attempt parks it in `<ns>.dlq`. A move publishes
/// the copy with a confirm before the original is acked, so a crash in between duplicates and never loses.
public struct LogWorker: Service {
    public struct Configuration: Sendable {
        public var prefetch: Int = 250
        /// Most logs written at once (a batch chunk counts its `logpipe-count` logs).
        public var batchSize: Int = 2_000
        /// When the store is idle, a batch that is not full waits at most this long after its first delivery for
        /// more; while the store writes the previous batch, the next one waits for the write instead (and never
        /// once it is full).
        public var flushInterval: Duration = .milliseconds(50)
        /// The API's rules, checked again on every log received (`LOGPIPE_MAX_LOG_BYTES`).
        public var validation = WorkValidation()
        /// Simulated work per character of text, as the seed design's `PROCESSING_TIME_PER_CHAR`.
        public var processingTimePerCharacter: Duration = .zero
        /// Retry tiers and attempts; the tiers must be the topology's retry queues.
        public var retryPolicy = RetryPolicy()
        /// After a batch the store refused, the worker pauses this long before the next one (doubling up to
        /// `maxStoreBackoff`), so a store outage does not burn through every message's attempts at once.
        public var storeBackoff: Duration = .milliseconds(200)
        public var maxStoreBackoff: Duration = .seconds(5)
        /// How often the worker reads the depth of its queues for metrics.
        public var queueDepthInterval: Duration = .seconds(5)
        /// Tests only: runs after the copies of a batch were confirmed and before the batch is acked.
        var afterMovingBeforeAck: (@Sendable () async -> Void)?

        public init() {}
    }

    /// How a batch ended, for the pacing of the next one.
    enum BatchResult: Equatable {
        /// Everything stored or moved as decided.
        case settled
        /// The store failed (the messages went to the retry tiers or the DLQ).
        case storeFailed
        /// A copy could not be published: those messages went back to the work queue.
        case moveFailed
    }

    let connection: any WorkChannel
    let topology: Topology
    let store: any LogStore
    let redaction: RedactionPolicy
    let configuration: Configuration
    let logger: Logger
    let mover: MessageMover
    let metrics: LogPipeMetrics?
    /// The work queues consumed, each by its own subscription and batching loop.
    let queues: [String]

    /// `queues` defaults to every work queue of the topology.
    public init(
        connection: any WorkChannel, topology: Topology, store: any LogStore, redaction: RedactionPolicy,
        configuration: Configuration, logger: Logger, metrics: LogPipeMetrics? = nil, queues: [String]? = nil
    ) {
        self.metrics = metrics
        self.queues = queues ?? topology.workQueues
        precondition(!self.queues.isEmpty, "a worker consumes at least one queue")
        precondition(configuration.retryPolicy.delays == topology.retryDelays, "the retry tiers must be the topology's")
        self.connection = connection
        self.topology = topology
        self.store = store
        self.redaction = redaction
        self.configuration = configuration
        self.logger = logger
        self.mover = MessageMover(connection: connection, topology: topology)
    }

    public func run() async throws {
        let poller = metrics.map { metrics in
            Task { [connection, topology, interval = configuration.queueDepthInterval] in
                while !Task.isCancelled {
                    for queue in topology.allQueues {
                        if let status = try? await connection.queueStatus(queue) { metrics.queueDepth(queue, ready: Int(status.messageCount)) }
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        }
        defer { poller?.cancel() }
        // One subscription per work queue, each with its own batching loop: the batches of a queue are settled
        // with multiple-acks on its own channel.
        let consumers = queues.map { connection.subscribe(queue: $0, prefetch: configuration.prefetch) }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                for consumer in consumers {
                    group.addTask { await consume(consumer) }
                }
            }
        } onGracefulShutdown: {
            for consumer in consumers { consumer.stopWaiting() }
        }
        for consumer in consumers { consumer.cancel() }
        logger.info("worker stopped consuming", metadata: ["amqp.queues": "\(queues.joined(separator: ","))"])
    }

    /// Takes batches from one subscription until it ends or waiting stops (on SIGTERM), finishing the batches
    /// in hand.
    private func consume(_ consumer: any DeliveryStream) async {
        let batchSize = max(1, configuration.batchSize)
        // Two batches fit in the prefetch window: while one is written, the broker can fill the next.
        let batchMessages = max(1, min(configuration.batchSize, configuration.prefetch / 2))
        var backoff = configuration.storeBackoff
        // Two batches at a time: the next one is decoded and redacted while the store writes the previous one;
        // writes and acks stay in delivery order. When its first delivery is there, a batch that is not full
        // waits for more only while there is nothing else to do: until the running write ends (the store then
        // wakes the consumer) or, with the store idle, for up to flushInterval. It never waits once it is full.
        var writing: Task<BatchResult, Never>?
        let store = StoreActivity()
        func settled(_ result: BatchResult) async {
            if result == .settled {
                backoff = configuration.storeBackoff
            } else {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, configuration.maxStoreBackoff)
            }
        }
        func linger() -> AMQPConsumer.Linger {
            if store.isWriting { return .untilWoken }
            return configuration.flushInterval > .zero ? .upTo(configuration.flushInterval) : .none
        }
        while let deliveries = await consumer.nextBatch(max: batchMessages, linger: linger) {
            // Batch chunks hold many logs (header logpipe-count): a store write takes about batchSize logs.
            var start = 0
            while start < deliveries.count {
                var end = start
                var logs = 0
                while end < deliveries.count, end == start || logs + Self.logCount(deliveries[end]) <= batchSize {
                    logs += Self.logCount(deliveries[end])
                    end += 1
                }
                let prepared = prepare(Array(deliveries[start..<end]))
                if let previous = writing { await settled(await previous.value) }
                store.began()
                consumer.discardWake()
                writing = Task {
                    let result = await finish(prepared)
                    store.ended()
                    consumer.wake()
                    return result
                }
                start = end
            }
        }
        if let previous = writing { await settled(await previous.value) }
        if !Task.isShuttingDownGracefully && !Task.isCancelled {
            logger.error("a subscription ended while the worker runs; its queue is no longer consumed by this worker")
        }
    }

    /// Stored and duplicate counts, redactions by type, and the end-to-end latency of what was just stored.
    private func recordStored(_ logs: [StoredLog], _ result: StoreWriteResult) {
        guard let metrics else { return }
        metrics.batchSize(logs.count)
        metrics.deliveries("stored", count: result.stored)
        metrics.deliveries("duplicate", count: result.duplicates)
        var redactions: [String: Int] = [:]
        for log in logs { for (type, count) in log.redactions { redactions[type, default: 0] += count } }
        metrics.redactions(redactions)
        let now = Int64(UnixTime.now.milliseconds)
        metrics.endToEnd(milliseconds: logs.compactMap { log in UnixTime(stamp: log.receivedAt).map { now - Int64($0.milliseconds) } })
    }

    /// The logs a message says it holds (`logpipe-count`), bounded: the header comes from the broker, and sums
    /// of it must not overflow whatever it says.
    static func logCount(_ delivery: AMQPDelivery) -> Int {
        Int(clamping: min(max(1, delivery.properties.headers["logpipe-count"]?.intValue ?? 1), 1_000_000))
    }

    /// A batch decoded and redacted, ready to be stored.
    struct PreparedBatch: Sendable {
        var deliveries: [AMQPDelivery]
        var outcomes: [RetryPolicy.Outcome]
        var logs: [StoredLog]
        /// For each log, the index of the delivery it came in.
        var logDeliveries: [Int]
    }

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
            if let field = records.lazy.compactMap({ configuration.validation.problem($0, now: clock) }).first {
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

    /// Writes a prepared batch, moves what failed, and settles every delivery.
    func finish(_ prepared: PreparedBatch) async -> BatchResult {
        let batch = prepared.deliveries
        let logs = prepared.logs
        var outcomes = prepared.outcomes
        if configuration.processingTimePerCharacter > .zero {
            let characters = logs.reduce(0) { $0 + $1.text.count }
            try? await Task.sleep(for: configuration.processingTimePerCharacter * characters)
        }
        var storeFailed = false
        if !logs.isEmpty {
            let writeStart = ContinuousClock.now
            let (result, failures) = await isolatingWrite(logs, Array(logs.indices))
            metrics?.storeWrite(ContinuousClock.now - writeStart, succeeded: failures.isEmpty)
            let failedLogs = Set(failures.keys)
            recordStored(failedLogs.isEmpty ? logs : logs.indices.filter { !failedLogs.contains($0) }.map { logs[$0] }, result)
            logger.debug(
                "batch stored",
                metadata: [
                    "batch.size": "\(batch.count)", "store.stored": "\(result.stored)", "store.duplicates": "\(result.duplicates)",
                    "store.failed": "\(failures.count)",
                ])
            if logger.logLevel <= .debug {
                // One line per log, so that a log can be followed from the API's line (same request.id) to here.
                for (index, log) in logs.enumerated() where !failedLogs.contains(index) {
                    logger.debug(
                        "log stored",
                        metadata: [
                            "request.id": "\(log.requestID)", "log.id": "\(log.logID)",
                            "tenant.id": "\(log.tenantID)", "log.bytes": "\(log.text.utf8.count)",
                        ])
                }
            }
            // A message whose logs failed goes to the retry tiers (transient) or the DLQ (permanent) as a whole;
            // its logs that were stored are kept once when it comes back (first write wins).
            for (logIndex, error) in failures.sorted(by: { $0.key < $1.key }) {
                storeFailed = storeFailed || error.transient
                let delivery = prepared.logDeliveries[logIndex]
                switch (outcomes[delivery], error.transient) {
                case (.permanent, _): break
                case (_, false): outcomes[delivery] = .permanent(reason: error.reason)
                case (.stored, true): outcomes[delivery] = .transient(reason: error.reason)
                case (.transient, true): break
                }
            }
            if !failures.isEmpty {
                let example = failures.values.first!
                logger.warning(
                    "store write failed for some logs; their messages go to the retry tiers or the DLQ",
                    metadata: [
                        "batch.size": "\(batch.count)", "store.failed": "\(failures.count)", "error.reason": "\(example.reason)",
                        "error": "\(example.message)",
                    ])
            }
        }
        let moveFailed = await move(batch, outcomes)
        if let hook = configuration.afterMovingBeforeAck { await hook() }
        await settle(batch, requeueing: moveFailed)
        return !moveFailed.isEmpty ? .moveFailed : storeFailed ? .storeFailed : .settled
    }

    /// Writes `indices` of `logs`; when the store refuses, isolates the failure so that it holds back nothing
    /// else: a batch of several tenants is written again tenant by tenant, and a tenant's logs that the store
    /// refuses permanently are split in halves down to the log it refuses. A transient failure of one tenant's
    /// logs (the store is down) is not split further: all of them are retried. Returns what was stored and
    /// the failure of each log that was not.
    func isolatingWrite(_ logs: [StoredLog], _ indices: [Int]) async -> (StoreWriteResult, [Int: StoreError]) {
        do {
            return (try await store.write(indices.count == logs.count ? logs : indices.map { logs[$0] }), [:])
        } catch {
            let groups: [[Int]]
            let tenants = Dictionary(grouping: indices, by: { logs[$0].tenantID })
            if tenants.count > 1 {
                groups = tenants.values.sorted { $0[0] < $1[0] }
            } else if !error.transient, indices.count > 1 {
                groups = [Array(indices[..<(indices.count / 2)]), Array(indices[(indices.count / 2)...])]
            } else {
                return (StoreWriteResult(), Dictionary(uniqueKeysWithValues: indices.map { ($0, error) }))
            }
            var total = StoreWriteResult()
            var failures: [Int: StoreError] = [:]
            // A store outage fails every group: after two groups in a row fail transiently, the rest are not
            // tried (their logs are retried with the same error), so an outage costs three writes per batch,
            // not one per tenant, while one tenant's failure still lets the others through (found in review).
            var transientInARow = 0
            var lastTransient: StoreError?
            for group in groups {
                if transientInARow >= 2, let outage = lastTransient {
                    for index in group { failures[index] = outage }  // retried, never parked untried
                    continue
                }
                let (result, failed) = await isolatingWrite(logs, group)
                total.stored += result.stored
                total.duplicates += result.duplicates
                failures.merge(failed) { first, _ in first }
                if !failed.isEmpty, failed.values.allSatisfy(\.transient) {
                    transientInARow += 1
                    lastTransient = failed.values.first
                } else {
                    transientInARow = 0
                }
            }
            return (total, failures)
        }
    }

    /// Publishes the retry or DLQ copy of every delivery that was not stored, all in flight at once;
    /// returns the indices whose copy the broker did not confirm.
    private func move(_ batch: [AMQPDelivery], _ outcomes: [RetryPolicy.Outcome]) async -> Set<Int> {
        let policy = configuration.retryPolicy
        return await withTaskGroup(of: Int?.self) { group in
            for (index, outcome) in outcomes.enumerated() where outcome != .stored {
                let delivery = batch[index]
                let decision = policy.decide(outcome, attempt: delivery.attempt)
                group.addTask { [mover, logger, metrics] in
                    do {
                        switch decision {
                        case .ack:
                            return nil
                        case .retry(let tier, _, let nextAttempt):
                            guard case .transient(let reason) = outcome else { return nil }
                            try await mover.retry(delivery, tier: tier, nextAttempt: nextAttempt, reason: reason)
                            metrics?.deliveries("retried", count: Self.logCount(delivery))
                        case .park(let reason):
                            try await mover.park(delivery, reason: reason)
                            metrics?.deliveries("parked", count: Self.logCount(delivery))
                            logger.warning(
                                "message parked in the DLQ",
                                metadata: [
                                    "log.id": "\(delivery.properties.messageID ?? "-")", "amqp.delivery_tag": "\(delivery.deliveryTag)",
                                    "message.bytes": "\(delivery.body.count)", "error.reason": "\(reason)",
                                    "logpipe.attempt": "\(delivery.attempt)",
                                ])
                        }
                        return nil
                    } catch {
                        logger.warning(
                            "could not move a message; it goes back to the work queue",
                            metadata: [
                                "amqp.delivery_tag": "\(delivery.deliveryTag)", "error": "\(error)",
                            ])
                        return index
                    }
                }
            }
            var failed = Set<Int>()
            for await index in group { if let index { failed.insert(index) } }
            return failed
        }
    }

    /// Acks the batch with one multiple-ack, or, when some copies failed, settles each delivery on its own:
    /// acks the others and hands the failed ones back to the queue. A delivery that cannot be settled (it came
    /// on an earlier connection: the broker redelivers it) never stops the others from being settled, so no
    /// delivery of the current connection is left for a later multiple-ack to ack unstored.
    private func settle(_ batch: [AMQPDelivery], requeueing failed: Set<Int>) async {
        if failed.isEmpty, let last = batch.last, batch.allSatisfy({ $0.receipt.isSameConnection(as: last.receipt) }) {
            do {
                try await connection.ack(last.receipt, multiple: true)
                return
            } catch {
                // The connection was lost before the ack: the broker redelivers, the store keeps one copy.
                logger.warning("ack failed; the batch will be redelivered", metadata: ["error": "\(error)"])
                return
            }
        }
        var unsettled = 0
        for (index, delivery) in batch.enumerated() {
            do {
                if failed.contains(index) {
                    try await connection.nack(delivery.receipt, multiple: false, requeue: true)
                } else {
                    try await connection.ack(delivery.receipt, multiple: false)
                }
            } catch {
                unsettled += 1
            }
        }
        if unsettled > 0 {
            logger.warning(
                "some deliveries could not be settled; the broker redelivers them",
                metadata: [
                    "batch.size": "\(batch.count)", "amqp.unsettled": "\(unsettled)",
                ])
        }
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
        let routingKey = topology.originalRoutingKey(of: delivery)
        guard routingKey.hasPrefix("tenant.") else { return "tenant_mismatch" }
        let routed = routingKey.dropFirst("tenant.".count)
        let header = delivery.properties.headers[MessageHeader.tenant]
        if let header, header.stringValue != String(routed) { return "tenant_mismatch" }
        for record in records {
            if record.tenantID.rawValue != routed { return "tenant_mismatch" }
            if record.tenantID.isReserved { return "reserved_tenant" }
        }
        return nil
    }
}

/// Whether a worker's batch is being written (set by its consuming loop, cleared by the write's task).
final class StoreActivity: Sendable {
    private let writing = Atomic<Bool>(false)
    var isWriting: Bool { writing.load(ordering: .acquiring) }
    func began() { writing.store(true, ordering: .releasing) }
    func ended() { writing.store(false, ordering: .releasing) }
}
