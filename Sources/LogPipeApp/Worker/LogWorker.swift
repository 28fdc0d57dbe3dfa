import AMQPBridge
import Foundation
import LogPipeCore
import Logging
import ServiceLifecycle

/// Consumes `<ns>.work`, decodes, redacts and stores logs in batches, and settles the batch with one
/// multiple-ack once every message is either stored or moved: a transient failure (store unreachable,
/// timeout, write concern) moves the message to the next retry tier, a permanent one (undecodable, unknown
/// schema, invalid tenant, refused by the store) or the last attempt parks it in `<ns>.dlq`. A move publishes
/// the copy with a confirm before the original is acked, so a crash in between duplicates and never loses.
public struct LogWorker: Service {
    public struct Configuration: Sendable {
        public var prefetch: Int = 250
        /// Most logs written at once (a batch chunk counts its `logpipe-count` logs).
        public var batchSize: Int = 500
        /// A batch is written when it is full or this long after its first log arrived.
        public var flushInterval: Duration = .milliseconds(50)
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

    let connection: AMQPConnection
    let topology: Topology
    let store: any LogStore
    let redaction: RedactionPolicy
    let configuration: Configuration
    let logger: Logger
    let mover: MessageMover
    let metrics: LogPipeMetrics?

    public init(connection: AMQPConnection, topology: Topology, store: any LogStore, redaction: RedactionPolicy,
                configuration: Configuration, logger: Logger, metrics: LogPipeMetrics? = nil) {
        self.metrics = metrics
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
        let consumer = connection.consume(queue: topology.workQueue, prefetch: UInt16(clamping: configuration.prefetch))
        let batchSize = max(1, configuration.batchSize)
        let batchMessages = max(1, min(configuration.batchSize, configuration.prefetch))
        var backoff = configuration.storeBackoff
        let poller = metrics.map { metrics in
            Task { [connection, topology, interval = configuration.queueDepthInterval] in
                while !Task.isCancelled {
                    for queue in [topology.workQueue, topology.deadLetterQueue] + topology.retryQueues {
                        if let status = try? await connection.queueStatus(queue) { metrics.queueDepth(queue, ready: Int(status.messageCount)) }
                    }
                    try? await Task.sleep(for: interval)
                }
            }
        }
        defer { poller?.cancel() }
        // Two batches at a time: the next one is decoded and redacted while the store writes the previous one;
        // writes and acks stay in delivery order. On SIGTERM waiting stops; the batches in hand are finished first.
        var writing: Task<BatchResult, Never>?
        func settled(_ result: BatchResult) async {
            if result == .settled {
                backoff = configuration.storeBackoff
            } else {
                try? await Task.sleep(for: backoff)
                backoff = min(backoff * 2, configuration.maxStoreBackoff)
            }
        }
        await withGracefulShutdownHandler {
            while let deliveries = await consumer.nextBatch(max: batchMessages, linger: configuration.flushInterval) {
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
                    writing = Task { await finish(prepared) }
                    start = end
                }
            }
            if let previous = writing { await settled(await previous.value) }
        } onGracefulShutdown: {
            consumer.stopWaiting()
        }
        consumer.cancel()
        logger.info("worker stopped consuming")
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

    static func logCount(_ delivery: AMQPDelivery) -> Int {
        Int(clamping: max(1, delivery.properties.headers["logpipe-count"]?.intValue ?? 1))
    }

    /// A batch decoded and redacted, ready to be stored.
    struct PreparedBatch: Sendable {
        var deliveries: [AMQPDelivery]
        var outcomes: [RetryPolicy.Outcome]
        var logs: [StoredLog]
        var decodedIndices: [Int]
    }

    /// Decodes and redacts a batch; what cannot be decoded is marked for the DLQ.
    func prepare(_ batch: [AMQPDelivery]) -> PreparedBatch {
        let now = UnixTime.now.rfc3339
        var prepared = PreparedBatch(deliveries: batch, outcomes: .init(repeating: .stored, count: batch.count), logs: [], decodedIndices: [])
        prepared.logs.reserveCapacity(batch.count)
        for (index, delivery) in batch.enumerated() {
            do {
                for record in try WorkMessage.decode(delivery.body) {
                    prepared.logs.append(StoredLog(record: record, redactor: redaction.redactor(for: record.tenantID), processedAtStamp: now))
                }
                prepared.decodedIndices.append(index)
            } catch {
                prepared.outcomes[index] = .permanent(reason: WorkMessage.reason(error))
            }
        }
        return prepared
    }

    /// Writes a prepared batch, moves what failed, and settles every delivery.
    func finish(_ prepared: PreparedBatch) async -> BatchResult {
        let batch = prepared.deliveries
        let logs = prepared.logs
        let decodedIndices = prepared.decodedIndices
        var outcomes = prepared.outcomes
        if configuration.processingTimePerCharacter > .zero {
            let characters = logs.reduce(0) { $0 + $1.text.count }
            try? await Task.sleep(for: configuration.processingTimePerCharacter * characters)
        }
        var storeFailed = false
        if !logs.isEmpty {
            let writeStart = ContinuousClock.now
            do {
                let result = try await store.write(logs)
                metrics?.storeWrite(ContinuousClock.now - writeStart, succeeded: true)
                recordStored(logs, result)
                logger.debug("batch stored", metadata: [
                    "batch.size": "\(batch.count)", "store.stored": "\(result.stored)", "store.duplicates": "\(result.duplicates)"])
                if logger.logLevel <= .debug {
                    // One line per log, so that a log can be followed from the API's line (same request.id) to here.
                    for log in logs {
                        logger.debug("log stored", metadata: ["request.id": "\(log.requestID)", "log.id": "\(log.logID)",
                                                             "tenant.id": "\(log.tenantID)", "log.bytes": "\(log.text.utf8.count)"])
                    }
                }
            } catch {
                metrics?.storeWrite(ContinuousClock.now - writeStart, succeeded: false)
                storeFailed = true
                logger.warning("store write failed; the batch goes to the retry tiers", metadata: [
                    "batch.size": "\(batch.count)", "error.reason": "\(error.reason)", "error": "\(error.message)"])
                let outcome: RetryPolicy.Outcome = error.transient ? .transient(reason: error.reason) : .permanent(reason: error.reason)
                for index in decodedIndices { outcomes[index] = outcome }
            }
        }
        let moveFailed = await move(batch, outcomes)
        if let hook = configuration.afterMovingBeforeAck { await hook() }
        await settle(batch, requeueing: moveFailed)
        return !moveFailed.isEmpty ? .moveFailed : storeFailed ? .storeFailed : .settled
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
                            logger.warning("message parked in the DLQ", metadata: [
                                "log.id": "\(delivery.properties.messageID ?? "-")", "amqp.delivery_tag": "\(delivery.deliveryTag)",
                                "message.bytes": "\(delivery.body.count)", "error.reason": "\(reason)",
                                "logpipe.attempt": "\(delivery.attempt)"])
                        }
                        return nil
                    } catch {
                        logger.warning("could not move a message; it goes back to the work queue", metadata: [
                            "amqp.delivery_tag": "\(delivery.deliveryTag)", "error": "\(error)"])
                        return index
                    }
                }
            }
            var failed = Set<Int>()
            for await index in group { if let index { failed.insert(index) } }
            return failed
        }
    }

    /// Acks the batch with one multiple-ack, or, when some copies failed, acks the others one by one and
    /// hands the failed ones back to the queue.
    private func settle(_ batch: [AMQPDelivery], requeueing failed: Set<Int>) async {
        do {
            if failed.isEmpty {
                if let last = batch.last { try await connection.ack(last.receipt, multiple: true) }
            } else {
                for (index, delivery) in batch.enumerated() {
                    if failed.contains(index) {
                        try await connection.nack(delivery.receipt, requeue: true)
                    } else {
                        try await connection.ack(delivery.receipt)
                    }
                }
            }
        } catch {
            // The connection was lost before the ack: the broker redelivers, the store keeps one copy.
            logger.warning("ack failed; the batch will be redelivered", metadata: ["error": "\(error)"])
        }
    }
}

/// Decoding of `<ns>.work` message bodies (DESIGN §3, schema version 1).
enum WorkMessage {
    /// A short reason code for a message that cannot be decoded (never the decoder's text: it may quote the body).
    static func reason(_ error: any Error) -> String {
        (error as? WorkBody.DecodeFailure)?.reason ?? "undecodable"
    }

    static func decode(_ body: [UInt8]) throws -> [LogRecord] {
        try WorkBody.parse(body)
    }
}
