import AMQPBridge
import Foundation
import LogPipeCore
import Logging
import ServiceLifecycle

/// Consumes `<ns>.work`, decodes, redacts and stores logs in batches, and acks only after the store has the
/// batch (one multiple-ack per batch). Undecodable messages are rejected without requeue (they dead-letter
/// to `<ns>.dlq`); a store failure leaves the batch unacked and hands it back to the queue after a backoff.
public struct LogWorker: Service {
    public struct Configuration: Sendable {
        public var prefetch: Int = 500
        /// Largest batch written at once (at most `prefetch`).
        public var batchSize: Int = 500
        /// A batch is written when it is full or this long after its first log arrived.
        public var flushInterval: Duration = .milliseconds(50)
        /// Simulated work per character of text, as the seed design's `PROCESSING_TIME_PER_CHAR`.
        public var processingTimePerCharacter: Duration = .zero
        /// First wait before a batch the store refused goes back to the queue; doubles up to `maxStoreBackoff`.
        public var storeBackoff: Duration = .milliseconds(200)
        public var maxStoreBackoff: Duration = .seconds(5)

        public init() {}
    }

    let connection: AMQPConnection
    let topology: Topology
    let store: any LogStore
    let redaction: RedactionPolicy
    let configuration: Configuration
    let logger: Logger

    public init(connection: AMQPConnection, topology: Topology, store: any LogStore, redaction: RedactionPolicy,
                configuration: Configuration, logger: Logger) {
        self.connection = connection
        self.topology = topology
        self.store = store
        self.redaction = redaction
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let consumer = connection.consume(queue: topology.workQueue, prefetch: UInt16(clamping: configuration.prefetch))
        let batchSize = max(1, min(configuration.batchSize, configuration.prefetch))
        var backoff = configuration.storeBackoff
        // On SIGTERM waiting stops; the batch being written is finished and acked first.
        await withGracefulShutdownHandler {
            while let batch = await consumer.nextBatch(max: batchSize, linger: configuration.flushInterval) {
                if await process(batch) {
                    backoff = configuration.storeBackoff
                } else {
                    try? await Task.sleep(for: backoff)
                    backoff = min(backoff * 2, configuration.maxStoreBackoff)
                    await requeue(batch)
                }
            }
        } onGracefulShutdown: {
            consumer.stopWaiting()
        }
        consumer.cancel()
        logger.info("worker stopped consuming")
    }

    /// Stores one batch and acks it; returns false when the store failed (nothing acked).
    func process(_ batch: [AMQPDelivery]) async -> Bool {
        let now = UnixTime.now
        var logs: [StoredLog] = []
        logs.reserveCapacity(batch.count)
        var rejected: [AMQPDelivery] = []
        for delivery in batch {
            do {
                let record = try WorkMessage.decode(delivery.body)
                logs.append(StoredLog(record: record, redactor: redaction.redactor(for: record.tenantID), processedAt: now))
            } catch {
                logger.error("message cannot be decoded; parking it", metadata: [
                    "amqp.delivery_tag": "\(delivery.deliveryTag)", "message.bytes": "\(delivery.body.count)",
                    "error.reason": "\(WorkMessage.reason(error))"])
                rejected.append(delivery)
            }
        }
        if configuration.processingTimePerCharacter > .zero {
            let characters = logs.reduce(0) { $0 + $1.text.count }
            try? await Task.sleep(for: configuration.processingTimePerCharacter * characters)
        }
        do {
            let result = try await store.write(logs)
            for delivery in rejected { try await connection.nack(delivery.receipt, requeue: false) }
            if let last = batch.last { try await connection.ack(last.receipt, multiple: true) }
            logger.debug("batch stored", metadata: [
                "batch.size": "\(batch.count)", "store.stored": "\(result.stored)", "store.duplicates": "\(result.duplicates)",
                "batch.rejected": "\(rejected.count)"])
            return true
        } catch let error as StoreError {
            logger.warning("store write failed; the batch stays unacked and is redelivered", metadata: [
                "batch.size": "\(batch.count)", "error": "\(error)"])
            return false
        } catch {
            // The connection was lost before the ack: the broker redelivers, the store keeps one copy.
            logger.warning("ack failed; the batch will be redelivered", metadata: ["error": "\(error)"])
            return true
        }
    }

    /// Hands an unstored batch back to the queue (all of it, with one multiple nack).
    func requeue(_ batch: [AMQPDelivery]) async {
        guard let last = batch.last else { return }
        do {
            try await connection.nack(last.receipt, multiple: true, requeue: true)
        } catch {
            logger.warning("nack failed; the broker redelivers the batch when the channel closes", metadata: ["error": "\(error)"])
        }
    }
}

/// Decoding of `<ns>.work` message bodies (DESIGN §3, schema version 1).
enum WorkMessage {
    struct UnknownSchema: Error, CustomStringConvertible {
        var description: String { "unknown or missing schema version" }
    }

    /// A short reason code for a message that cannot be decoded (decoder messages may quote the body).
    static func reason(_ error: any Error) -> String {
        error is UnknownSchema ? "unknown_schema" : "undecodable"
    }

    static func decode(_ body: [UInt8]) throws -> LogRecord {
        let record = try JSONDecoder().decode(LogRecord.self, from: Data(body))
        guard record.v == LogRecord.schemaVersion else { throw UnknownSchema() }
        return record
    }
}
