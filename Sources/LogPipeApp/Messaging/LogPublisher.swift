import AMQPBridge
import Foundation
import LogPipeCore
import Synchronization

/// Publishes validated logs and answers only once they are safe (confirmed by the broker).
public protocol LogPublisher: Sendable {
    /// Returns when the broker confirmed the record; throws a 503-class ``IngestError`` otherwise.
    func publish(_ record: LogRecord) async throws(IngestError)
    /// Publishes a validated batch; returns when the broker confirmed all of it. After a failure some of
    /// it may be queued: a retry with the same `log_id`s stores nothing twice.
    func publish(batch records: [LogRecord]) async throws(IngestError)
    /// `nil` when the publisher can do its job, else the name and reason of the failing check.
    var unreadyReason: (check: String, detail: String)? { get }
}

/// Publishes each log as one persistent, mandatory message to the ingest exchange, and a batch as one
/// message per tenant chunk (DESIGN §3); every publish waits for its confirm, many are in flight at once.
public struct AMQPLogPublisher: LogPublisher {
    public struct Limits: Sendable {
        /// Logs per batch chunk at most (a worker holds up to prefetch × this many logs).
        public var chunkLogs = 250
        /// Encoded bytes per batch chunk at most (a single larger log still travels alone).
        public var chunkBytes = 1 << 20
        /// Messages awaiting a confirm at most; past it the API answers 503 `broker_backlog` instead of queueing.
        public var maxPendingConfirms = 20_000

        public init() {}
    }

    let connection: AMQPConnection
    let topology: Topology
    let limits: Limits
    private let pending = PendingCount()

    public init(connection: AMQPConnection, topology: Topology, limits: Limits = Limits()) {
        self.connection = connection
        self.topology = topology
        self.limits = limits
    }

    public func publish(_ record: LogRecord) async throws(IngestError) {
        try checkFlow(messages: 1)
        try await send(record.jsonBytes, tenant: record.tenantID, messageID: record.logID, requestID: record.requestID)
    }

    public func publish(batch records: [LogRecord]) async throws(IngestError) {
        let chunks = try chunk(records)
        try checkFlow(messages: chunks.count)
        let failure = await withTaskGroup(of: IngestError?.self) { group in
            for (index, chunk) in chunks.enumerated() {
                group.addTask {
                    do throws(IngestError) {
                        try await send(chunk.body, tenant: chunk.tenant, messageID: "\(chunk.requestID)-\(index)",
                                       requestID: chunk.requestID, count: chunk.count)
                        return nil
                    } catch {
                        return error
                    }
                }
            }
            var first: IngestError?
            for await error in group where first == nil { first = error }
            return first
        }
        if let failure { throw failure }
    }

    struct Chunk {
        var tenant: TenantID
        var requestID: String
        var body: [UInt8]
        var count: Int
    }

    /// Groups the records by tenant (in first-seen order) into chunks bounded by `limits`.
    func chunk(_ records: [LogRecord]) throws(IngestError) -> [Chunk] {
        var order: [TenantID] = []
        var open: [TenantID: (encoded: [[UInt8]], bytes: Int)] = [:]
        var chunks: [Chunk] = []
        func close(_ tenant: TenantID, requestID: String) {
            guard let pending = open[tenant], !pending.encoded.isEmpty else { return }
            chunks.append(Chunk(tenant: tenant, requestID: requestID, body: WorkBody.batch(pending.encoded), count: pending.encoded.count))
            open[tenant] = ([], 0)
        }
        guard let requestID = records.first?.requestID else { return [] }
        for record in records {
            let encoded = record.jsonBytes
            if open[record.tenantID] == nil {
                order.append(record.tenantID)
                open[record.tenantID] = ([], 0)
            }
            if let current = open[record.tenantID], !current.encoded.isEmpty,
               current.encoded.count >= limits.chunkLogs || current.bytes + encoded.count > limits.chunkBytes {
                close(record.tenantID, requestID: requestID)
            }
            open[record.tenantID]!.encoded.append(encoded)
            open[record.tenantID]!.bytes += encoded.count + 1
        }
        for tenant in order { close(tenant, requestID: requestID) }
        return chunks
    }

    /// Broker flow control and the confirm backlog answer 503 at once rather than letting requests pile up.
    private func checkFlow(messages: Int) throws(IngestError) {
        if connection.isBlocked {
            throw IngestError(.brokerBlocked, "the broker is refusing publishes (resource alarm); retry later")
        }
        if pending.value + messages > limits.maxPendingConfirms {
            throw IngestError(.brokerBacklog, "too many logs are waiting for the broker's confirm; retry later")
        }
    }

    private func send(_ body: [UInt8], tenant: TenantID, messageID: String, requestID: String, count: Int? = nil) async throws(IngestError) {
        var headers: [String: AMQPFieldValue] = [MessageHeader.tenant: .string(tenant.rawValue)]
        if let count { headers["logpipe-count"] = .int(Int64(count)) }
        let properties = AMQPProperties(
            contentType: "application/json", deliveryMode: 2, messageID: messageID,
            correlationID: requestID, timestamp: UnixTime.now.seconds, headers: headers)
        pending.add(1)
        defer { pending.add(-1) }
        do {
            try await connection.publish(exchange: topology.ingestExchange, routingKey: tenant.routingKey,
                                         body: body, properties: properties, mandatory: true)
        } catch let error as AMQPError {
            throw Self.ingestError(for: error)
        } catch {
            throw IngestError(.brokerUnavailable, "the broker is unavailable; retry later")
        }
    }

    public var unreadyReason: (check: String, detail: String)? {
        if !connection.isConnected { return ("broker", "no confirmed publishing channel to the broker") }
        if connection.isBlocked { return ("broker", "the broker blocked publishing (resource alarm)") }
        return nil
    }

    static func ingestError(for error: AMQPError) -> IngestError {
        switch error.code {
        case .confirmTimeout:
            IngestError(.confirmTimeout, "the broker did not confirm the log in time; retry later (the log may be stored twice, never lost)")
        case .nacked:
            IngestError(.brokerRejected, "the broker refused the log; retry later")
        case .unroutable:
            IngestError(.unroutable, "no queue is bound for this tenant's routing key; the broker topology needs attention")
        case .blocked:
            IngestError(.brokerBlocked, "the broker is refusing publishes (resource alarm); retry later (the log may be stored twice, never lost)")
        case .connectionLost:
            IngestError(.brokerUnavailable, "the broker connection was lost before the log was confirmed; retry")
        default:
            IngestError(.brokerUnavailable, "the broker is unavailable; retry later")
        }
    }
}

/// Publishes awaiting a confirm, across all requests.
private final class PendingCount: Sendable {
    private let count = Atomic<Int>(0)
    var value: Int { count.load(ordering: .relaxed) }
    func add(_ delta: Int) { count.add(delta, ordering: .relaxed) }
}
