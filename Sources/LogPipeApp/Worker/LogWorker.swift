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
    public struct Configuration: Sendable, Equatable {
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
    let configuration: Configuration
    let logger: Logger
    let metrics: LogPipeMetrics?
    /// The three steps of a batch, each testable alone: decode, refuse and redact; write with failures
    /// isolated; move what was not stored and settle.
    let preparation: WorkPreparation
    let writer: IsolatingWriter
    let settlement: BatchSettlement
    /// The work queues consumed, each by its own subscription and batching loop.
    let queues: [String]
    /// Tests only: runs after the copies of a batch were confirmed and before the batch is acked.
    var afterMovingBeforeAck: (@Sendable () async -> Void)?

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
        self.configuration = configuration
        self.logger = logger
        self.preparation = WorkPreparation(topology: topology, validation: configuration.validation, redaction: redaction, logger: logger)
        self.writer = IsolatingWriter(store: store)
        self.settlement = BatchSettlement(
            connection: connection, mover: MessageMover(connection: connection, topology: topology), policy: configuration.retryPolicy,
            logger: logger, metrics: metrics)
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
        let batchMessages = WorkBatching.messagesPerBatch(prefetch: configuration.prefetch, batchSize: configuration.batchSize)
        var backoff = configuration.storeBackoff
        // Two batches at a time: the next one is decoded and redacted while the store writes the previous one;
        // writes and acks stay in delivery order. A batch that is not full waits for more as WorkBatching.linger
        // says; it never waits once it is full.
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
        let linger = { WorkBatching.linger(storeWriting: store.isWriting, flushInterval: configuration.flushInterval) }
        while let deliveries = await consumer.nextBatch(max: batchMessages, linger: linger) {
            for range in WorkBatching.writes(deliveries, batchSize: configuration.batchSize) {
                let prepared = preparation.prepare(Array(deliveries[range]))
                if let previous = writing { await settled(await previous.value) }
                store.began()
                consumer.discardWake()
                writing = Task {
                    let result = await finish(prepared)
                    store.ended()
                    consumer.wake()
                    return result
                }
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
            let (result, failures) = await writer.write(logs, Array(logs.indices))
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
            // A message whose logs failed goes to the retry tiers (transient) or the DLQ (permanent) as a whole.
            (outcomes, storeFailed) = IsolatingWriter.outcomes(outcomes, failures: failures, logDeliveries: prepared.logDeliveries)
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
        let moveFailed = await settlement.move(batch, outcomes)
        if let hook = afterMovingBeforeAck { await hook() }
        await settlement.settle(batch, requeueing: moveFailed)
        return !moveFailed.isEmpty ? .moveFailed : storeFailed ? .storeFailed : .settled
    }
}

/// Whether a worker's batch is being written (set by its consuming loop, cleared by the write's task).
final class StoreActivity: Sendable {
    private let writing = Atomic<Bool>(false)
    var isWriting: Bool { writing.load(ordering: .acquiring) }
    func began() { writing.store(true, ordering: .releasing) }
    func ended() { writing.store(false, ordering: .releasing) }
}
