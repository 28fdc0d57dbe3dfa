import Foundation
import LogPipeCore
import Logging
import ServiceLifecycleTestKit
import Synchronization
import TestSupport
import Testing

@testable import AMQPBridge
@testable import LogPipeApp

/// The worker against in-memory fakes of its broker channel and its store: batching, settling, isolation and
/// shutdown, without a broker (the integration suites run the same paths against RabbitMQ).
@Suite("Worker (in-memory channel and store)", .timeLimit(.minutes(1)))
struct WorkerUnitTests {
    /// Records what the worker does with its deliveries; hands out subscriptions the test feeds.
    final class FakeChannel: WorkChannel {
        struct Published: Equatable {
            var routingKey: String
            var messageID: String?
            var attempt: Int64?
            var reason: String?
        }

        struct Log {
            var acks: [(tag: UInt64, multiple: Bool)] = []
            var nacks: [(tag: UInt64, requeue: Bool)] = []
            var published: [Published] = []
            var subscriptions: [AMQPConsumer] = []
        }

        let log = Mutex(Log())
        /// Copies to these queues are not confirmed (the publish throws).
        let refusedQueues = Mutex<Set<String>>([])

        func subscribe(queue: String, prefetch: Int) -> any DeliveryStream {
            let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
            log.withLock { $0.subscriptions.append(consumer) }
            return consumer
        }

        func ack(_ receipt: AMQPReceipt, multiple: Bool) async throws {
            log.withLock { $0.acks.append((receipt.deliveryTag, multiple)) }
        }

        func nack(_ receipt: AMQPReceipt, multiple: Bool, requeue: Bool) async throws {
            log.withLock { $0.nacks.append((receipt.deliveryTag, requeue)) }
        }

        func publish(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool) async throws {
            if refusedQueues.withLock({ $0.contains(routingKey) }) { throw AMQPError(.nacked, "refused by the fake") }
            log.withLock {
                $0.published.append(
                    Published(
                        routingKey: routingKey, messageID: properties.messageID,
                        attempt: properties.headers[MessageHeader.attempt]?.intValue,
                        reason: properties.headers[MessageHeader.error]?.stringValue))
            }
        }

        func queueStatus(_ queue: String) async throws -> AMQPQueueStatus { AMQPQueueStatus(messageCount: 0, consumerCount: 1) }

        /// The subscription the worker made, once it made it.
        func subscription() async throws -> AMQPConsumer {
            let made = try await eventually(timeout: .seconds(10)) { self.log.withLock { !$0.subscriptions.isEmpty } }
            #expect(made)
            return log.withLock { $0.subscriptions[0] }
        }
    }

    /// Logs in memory by tenant; a tenant can be refused for good, and the whole store can be down.
    final class MemoryStore: LogStore {
        let logs = Mutex<[TenantID: [String: StoredLog]]>([:])
        let refused = Mutex<Set<TenantID>>([])
        let down = Mutex(false)
        let writes = Mutex(0)

        func write(_ batch: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
            writes.withLock { $0 += 1 }
            if down.withLock({ $0 }) { throw StoreError(transient: true, "down") }
            if let tenant = batch.first(where: { tenant in refused.withLock { $0.contains(tenant.tenantID) } })?.tenantID {
                throw StoreError(transient: false, "refuses \(tenant.rawValue)")
            }
            return logs.withLock { logs in
                var result = StoreWriteResult()
                for log in batch {
                    if logs[log.tenantID, default: [:]][log.logID] == nil {
                        logs[log.tenantID, default: [:]][log.logID] = log
                        result.stored += 1
                    } else {
                        result.duplicates += 1
                    }
                }
                return result
            }
        }

        func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? { logs.withLock { $0[tenant]?[logID] } }
        func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog] { logs.withLock { Array(($0[tenant] ?? [:]).values) } }
        func count(tenant: TenantID) async throws(StoreError) -> Int { logs.withLock { $0[tenant]?.count ?? 0 } }
        func ping() async throws(StoreError) {}
    }

    static let topology = Topology(namespace: "unit", retryDelays: [.seconds(1), .seconds(10)])

    static func delivery(_ tag: UInt64, tenant: String = "acme", text: String = "mail bob@example.com") -> AMQPDelivery {
        let record = LogRecord(
            tenantID: TenantID(tenant)!, logID: "\(tenant)-\(tag)", text: text, receivedAt: "2026-12-01T10:00:00.000Z",
            requestID: "r-\(tag)")
        return AMQPDelivery(
            body: Array(try! JSONEncoder().encode(record)),
            properties: AMQPProperties(
                contentType: "application/json", deliveryMode: 2, messageID: record.logID,
                headers: [MessageHeader.tenant: .string(tenant)]),
            exchange: "unit.ingest", routingKey: "tenant.\(tenant)", redelivered: false, deliveryTag: tag,
            receipt: AMQPReceipt(generation: 1, channel: 3, deliveryTag: tag))
    }

    static func worker(
        _ channel: FakeChannel, _ store: any LogStore, prefetch: Int = 250, flushInterval: Duration = .milliseconds(20)
    ) -> LogWorker {
        var configuration = LogWorker.Configuration()
        configuration.retryPolicy = RetryPolicy(delays: topology.retryDelays, maxAttempts: 3)
        configuration.prefetch = prefetch
        configuration.flushInterval = flushInterval
        configuration.storeBackoff = .milliseconds(1)
        configuration.maxStoreBackoff = .milliseconds(2)
        return LogWorker(
            connection: channel, topology: topology, store: store, redaction: RedactionPolicy(), configuration: configuration,
            logger: Logger(label: "worker-unit-tests"))
    }

    /// Runs the worker, feeds `deliveries` at once, waits until `settled` holds, then ends the subscription.
    static func run(
        _ deliveries: [AMQPDelivery], channel: FakeChannel, store: MemoryStore,
        until settled: @escaping @Sendable () -> Bool
    ) async throws {
        let worker = Self.worker(channel, store)
        let running = Task { try await worker.run() }
        let subscription = try await channel.subscription()
        for delivery in deliveries { subscription.yield(delivery) }
        let done = try await eventually(timeout: .seconds(10), settled)
        #expect(done)
        subscription.finish()
        try await running.value
    }

    @Test("a batch is written with one store write and settled with one multiple-ack of its last delivery; text redacted")
    func batchAndMultipleAck() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        try await Self.run((1...10).map { Self.delivery($0) }, channel: channel, store: store) {
            channel.log.withLock { !$0.acks.isEmpty }
        }
        #expect(store.writes.withLock { $0 } == 1)
        #expect(channel.log.withLock { $0.acks.map(\.tag) } == [10] && channel.log.withLock { $0.acks.map(\.multiple) } == [true])
        #expect(channel.log.withLock { $0.published.isEmpty && $0.nacks.isEmpty })
        #expect(try await store.count(tenant: TenantID("acme")!) == 10)
        #expect(try await store.get(tenant: TenantID("acme")!, logID: "acme-3")?.text == "mail [REDACTED:EMAIL]")
    }

    @Test("a store outage: every message is copied to the first retry tier with attempt 2, then acked; nothing stored")
    func outageGoesToRetryTier() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        store.down.withLock { $0 = true }
        try await Self.run((1...5).map { Self.delivery($0) }, channel: channel, store: store) {
            channel.log.withLock { $0.acks.count == 1 }
        }
        let published = channel.log.withLock { $0.published }
        #expect(published.count == 5)
        #expect(published.allSatisfy { $0 == .init(routingKey: "unit.retry.1s", messageID: $0.messageID, attempt: 2, reason: "store_unavailable") })
        #expect(Set(published.compactMap(\.messageID)) == Set((1...5).map { "acme-\($0)" }))
        #expect(channel.log.withLock { $0.acks.map(\.tag) } == [5])
    }

    @Test("one tenant refused for good: the other tenant's logs are stored, the refused tenant's message is parked, all acked")
    func isolation() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        store.refused.withLock { $0 = [TenantID("beta")!] }
        let deliveries = [Self.delivery(1), Self.delivery(2, tenant: "beta"), Self.delivery(3)]
        try await Self.run(deliveries, channel: channel, store: store) { channel.log.withLock { $0.acks.count == 1 } }
        #expect(try await store.count(tenant: TenantID("acme")!) == 2)
        #expect(channel.log.withLock { $0.published } == [.init(routingKey: "unit.dlq", messageID: "beta-2", attempt: 1, reason: "store_rejected")])
        #expect(channel.log.withLock { $0.acks.map(\.tag) } == [3])
    }

    @Test("undecodable and mismatched messages are parked on first sight; the store never sees them")
    func poisonParked() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        var mismatched = Self.delivery(2)
        mismatched.routingKey = "tenant.beta"
        let garbage = AMQPDelivery(
            body: Array("not json".utf8), properties: AMQPProperties(messageID: "junk"), exchange: "unit.ingest",
            routingKey: "tenant.acme", redelivered: false, deliveryTag: 1,
            receipt: AMQPReceipt(generation: 1, channel: 3, deliveryTag: 1))
        try await Self.run([garbage, mismatched], channel: channel, store: store) { channel.log.withLock { $0.acks.count == 1 } }
        #expect(store.writes.withLock { $0 } == 0)
        #expect(channel.log.withLock { $0.published.map(\.reason) }.sorted { ($0 ?? "") < ($1 ?? "") } == ["tenant_mismatch", "undecodable"])
    }

    @Test("a copy the broker does not confirm: that delivery goes back to the queue (nack, requeue), the others are acked one by one")
    func unconfirmedCopyRequeued() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        store.refused.withLock { $0 = [TenantID("beta")!] }
        channel.refusedQueues.withLock { $0 = ["unit.dlq"] }
        let deliveries = [Self.delivery(1), Self.delivery(2, tenant: "beta"), Self.delivery(3)]
        try await Self.run(deliveries, channel: channel, store: store) { channel.log.withLock { $0.acks.count + $0.nacks.count == 3 } }
        #expect(channel.log.withLock { $0.nacks.map(\.tag) } == [2] && channel.log.withLock { $0.nacks.map(\.requeue) } == [true])
        #expect(channel.log.withLock { Set($0.acks.map(\.tag)) } == [1, 3])
        #expect(channel.log.withLock { $0.acks.allSatisfy { !$0.multiple } })
    }

    @Test("graceful shutdown: the worker stops waiting, finishes and acks the batch in hand, and returns")
    func gracefulShutdown() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        try await testGracefulShutdown { trigger in
            let worker = Self.worker(channel, store)
            let running = Task { try await worker.run() }
            let subscription = try await channel.subscription()
            for tag in 1...4 { subscription.yield(Self.delivery(UInt64(tag))) }
            let acked = try await eventually(timeout: .seconds(10)) { channel.log.withLock { !$0.acks.isEmpty } }
            #expect(acked)
            trigger.triggerGracefulShutdown()
            try await running.value  // returns without the subscription ending
        }
        #expect(try await store.count(tenant: TenantID("acme")!) == 4)
        #expect(channel.log.withLock { $0.acks.map(\.tag) } == [4])
    }

    /// A store whose first write waits until the test lets it go.
    final class HeldStore: LogStore {
        let memory = MemoryStore()
        private let gate: AsyncStream<Void>
        private let opener: AsyncStream<Void>.Continuation
        let firstWriteStarted = Mutex(false)

        init() { (gate, opener) = AsyncStream.makeStream() }

        func release() { opener.finish() }

        func write(_ batch: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
            let first = firstWriteStarted.withLock { started in
                defer { started = true }
                return !started
            }
            if first { for await _ in gate {} }
            return try await memory.write(batch)
        }

        func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? { try await memory.get(tenant: tenant, logID: logID) }
        func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog] { try await memory.find(tenant: tenant, query) }
        func count(tenant: TenantID) async throws(StoreError) -> Int { try await memory.count(tenant: tenant) }
        func ping() async throws(StoreError) {}
    }

    @Test("a batch that fills half the prefetch window is written at once, however long the flush interval")
    func fullBatchDoesNotLinger() async throws {
        let channel = FakeChannel(), store = MemoryStore()
        // Prefetch 4: batches of 2 messages, so two fit in the window. Before, a batch waited for 4 (all the
        // broker would ever send while the worker held them) or the whole flush interval.
        let worker = Self.worker(channel, store, prefetch: 4, flushInterval: .seconds(600))
        let running = Task { try await worker.run() }
        let subscription = try await channel.subscription()
        let start = ContinuousClock.now
        for tag in 1...2 { subscription.yield(Self.delivery(UInt64(tag))) }
        #expect(try await eventually(timeout: .seconds(10)) { store.logs.withLock { $0.values.reduce(0) { $0 + $1.count } } == 2 })
        #expect(ContinuousClock.now - start < .seconds(10))
        subscription.finish()
        try await running.value
    }

    @Test("while the store writes a batch, the next one waits for that write, not the flush interval")
    func nextBatchWaitsForTheWriteOnly() async throws {
        let channel = FakeChannel(), store = HeldStore()
        let worker = Self.worker(channel, store, prefetch: 8, flushInterval: .seconds(600))
        let running = Task { try await worker.run() }
        let subscription = try await channel.subscription()
        // A full batch (4 of a prefetch of 8) goes to the store, whose write is held.
        for tag in 1...4 { subscription.yield(Self.delivery(UInt64(tag))) }
        #expect(try await eventually(timeout: .seconds(10)) { store.firstWriteStarted.withLock { $0 } })
        // One more delivery: its batch is not full, and a write is running, so it waits for the write to end.
        subscription.yield(Self.delivery(5))
        store.release()
        let acme = TenantID("acme")!
        #expect(try await eventually(timeout: .seconds(10)) { store.memory.logs.withLock { $0[acme]?.count } == 5 })
        #expect(try await eventually(timeout: .seconds(10)) { channel.log.withLock { $0.acks.map(\.tag) } == [4, 5] })
        subscription.finish()
        try await running.value
    }
}
