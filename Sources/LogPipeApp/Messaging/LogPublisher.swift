import AMQPBridge
import Foundation
import LogPipeCore
import Synchronization

/// Publishes validated logs and answers only once they are safe (confirmed by the broker).
public protocol LogPublisher: Sendable {
    /// Returns when the broker confirmed the record; throws why not otherwise.
    func publish(_ record: LogRecord) async throws(PublishFailure)
    /// Publishes a validated batch; returns when the broker confirmed all of it. After a failure some of
    /// it may be queued: a retry with the same `log_id`s stores nothing twice.
    func publish(batch records: [LogRecord]) async throws(PublishFailure)
    /// `nil` when the publisher can do its job, else the name and reason of the failing check.
    var unreadyReason: (check: String, detail: String)? { get }
    /// The broker node the publisher is connected to (`host:port`), if any.
    var node: String? { get }
}

extension LogPublisher {
    public var node: String? { nil }
}

/// Publishes each log as one persistent, mandatory message to the ingest exchange, and a batch as one
/// message per tenant chunk (docs/architecture.md); every publish waits for its confirm, many are in flight at once.
/// Under load, a tenant's logs that arrive while its earlier messages await their confirm travel together as
/// one chunk (``ChunkCoalescer``), from single-log requests and batches alike.
public struct AMQPLogPublisher: LogPublisher {
    public struct Limits: Sendable, Equatable {
        /// Logs per batch chunk at most (a worker holds up to prefetch × this many logs).
        public var chunkLogs = 250
        /// Encoded bytes per batch chunk at most (a single larger log still travels alone).
        public var chunkBytes = 1 << 20
        /// Messages awaiting a confirm at most; past it the API answers 503 `broker_backlog` instead of queueing.
        public var maxPendingConfirms = 20_000
        /// Messages of one tenant awaiting a confirm before that tenant's further logs wait and leave together
        /// as one chunk; 0 turns grouping off (every single log and every batch chunk is its own message).
        public var coalesceInFlight = 1

        public init() {}
    }

    let sender: Sender
    let limits: Limits
    private let coalescer: ChunkCoalescer?
    /// When set, publishes wait while the work queue is over its backlog bound.
    let backlog: WorkBacklogGate?

    public init(connection: AMQPConnection, topology: Topology, limits: Limits = Limits(), backlog: WorkBacklogGate? = nil) {
        let sender = Sender(connection: connection, topology: topology)
        self.sender = sender
        self.limits = limits
        self.backlog = backlog
        coalescer =
            limits.coalesceInFlight < 1
            ? nil
            : ChunkCoalescer(
                inFlight: limits.coalesceInFlight, chunkLogs: limits.chunkLogs, chunkBytes: limits.chunkBytes
            ) { tenant, items in
                do throws(PublishFailure) {
                    try await sender.send(items, tenant: tenant)
                    return nil
                } catch {
                    return error
                }
            } sendMany: { chunks in
                await sender.send(chunks)
            }
    }

    public func publish(_ record: LogRecord) async throws(PublishFailure) {
        try checkFlow(messages: 1)
        try await backlog?.admit()
        let item = ChunkCoalescer.Item(record: record, encoded: record.jsonBytes)
        if let coalescer {
            if let error = await coalescer.publish([item], tenant: record.tenantID) { throw error }
        } else {
            try await sender.send([item], tenant: record.tenantID)
        }
    }

    public func publish(batch records: [LogRecord]) async throws(PublishFailure) {
        let chunks = chunk(records)
        try checkFlow(messages: chunks.count)
        try await backlog?.admit()
        // Every tenant's chunk in one hop to the broker connection (those of a tenant with earlier messages
        // still unconfirmed wait for them in the coalescer and leave together).
        let failure =
            if let coalescer {
                await coalescer.publish(chunks)
            } else {
                await sender.send(chunks).lazy.compactMap { $0 }.first
            }
        if let failure { throw failure }
    }

    typealias Chunk = ChunkCoalescer.Chunk

    /// Groups the records by tenant (in first-seen order) into chunks bounded by `limits`.
    func chunk(_ records: [LogRecord]) -> [Chunk] {
        var open: [(chunk: Chunk, bytes: Int)] = []  // one open chunk per tenant, in first-seen order
        var slots: [TenantID: Int] = [:]
        var chunks: [Chunk] = []
        for record in records {
            let item = ChunkCoalescer.Item(record: record, encoded: record.jsonBytes)
            let slot: Int
            if let known = slots[record.tenantID] {
                slot = known
            } else {
                slot = open.count
                slots[record.tenantID] = slot
                open.append((Chunk(tenant: record.tenantID, items: []), 0))
            }
            if !open[slot].chunk.items.isEmpty,
                open[slot].chunk.items.count >= limits.chunkLogs || open[slot].bytes + item.encoded.count > limits.chunkBytes
            {
                chunks.append(open[slot].chunk)
                open[slot] = (Chunk(tenant: record.tenantID, items: []), 0)
            }
            open[slot].chunk.items.append(item)
            open[slot].bytes += item.encoded.count + 1
        }
        chunks += open.map(\.chunk).filter { !$0.items.isEmpty }
        return chunks
    }

    /// Broker flow control and the confirm backlog fail at once rather than letting requests pile up.
    private func checkFlow(messages: Int) throws(PublishFailure) {
        if sender.connection.isBlocked { throw .blocked(published: false) }
        if sender.pending.value + messages > limits.maxPendingConfirms { throw .confirmBacklog }
    }

    public var unreadyReason: (check: String, detail: String)? {
        if !sender.connection.isConnected {
            return ("broker", "no confirmed publishing channel to the broker" + (sender.connection.lastError.map { " (\($0.reason))" } ?? ""))
        }
        if sender.connection.isBlocked { return ("broker", "the broker blocked publishing (resource alarm)") }
        return nil
    }

    public var node: String? { sender.connection.endpoint?.address }

    /// Publishes one message with a confirm; the bridge's errors become ``PublishFailure``s.
    struct Sender: Sendable {
        let connection: AMQPConnection
        let topology: Topology
        /// Publishes awaiting a confirm, across all requests.
        let pending = PendingCount()

        /// Publishes one chunk's message and waits for its confirm.
        func send(_ items: [ChunkCoalescer.Item], tenant: TenantID) async throws(PublishFailure) {
            let message = self.message(Chunk(tenant: tenant, items: items))
            pending.add(1)
            defer { pending.add(-1) }
            do {
                try await connection.publish(
                    exchange: message.exchange, routingKey: message.routingKey, body: message.body, properties: message.properties,
                    mandatory: message.mandatory)
            } catch let error as AMQPError {
                throw PublishFailure(error)
            } catch {
                throw .unavailable
            }
        }

        /// One message per chunk, published together; each chunk's outcome in order.
        func send(_ chunks: [Chunk]) async -> [PublishFailure?] {
            let messages = chunks.map(message)
            pending.add(messages.count)
            defer { pending.add(-messages.count) }
            return await connection.publish(messages).map { $0.map(PublishFailure.init) }
        }

        /// One log goes as its plain body (`message_id` = its `log_id`); more as a batch chunk named after its first
        /// log (`<log_id>+<others>`, header `logpipe-count`); every log in it keeps its own `log_id` and `request_id`.
        private func message(_ chunk: Chunk) -> AMQPConnection.OutgoingMessage {
            let first = chunk.items[0].record
            var headers: [String: AMQPFieldValue] = [MessageHeader.tenant: .string(chunk.tenant.rawValue)]
            let body: [UInt8]
            let messageID: String
            if chunk.items.count == 1 {
                body = chunk.items[0].encoded
                messageID = first.logID
            } else {
                body = WorkBody.batch(chunk.items.map(\.encoded))
                messageID = "\(first.logID)+\(chunk.items.count - 1)"
                headers["logpipe-count"] = .int(Int64(chunk.items.count))
            }
            let properties = AMQPProperties(
                contentType: "application/json", deliveryMode: 2, messageID: messageID,
                correlationID: first.requestID, timestamp: UnixTime.now.seconds, headers: headers)
            return AMQPConnection.OutgoingMessage(
                exchange: topology.ingestExchange, routingKey: chunk.tenant.routingKey, body: body, properties: properties, mandatory: true)
        }
    }
}

/// Publishes awaiting a confirm, across all requests.
final class PendingCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ delta: Int) { count.add(delta, ordering: .relaxed) }
}
