import Foundation
import LogPipeCore
import TestSupport
import Testing

@testable import AMQPBridge
@testable import LogPipeApp

/// Consumers across reconnects and broker-side cancels: no stale delivery is handed out after a reconnect,
/// a cancelled subscription comes back by itself, and readiness says when the worker is not consuming.
@Suite("Consumer recovery", .timeLimit(.minutes(2)))
struct ConsumerRecoveryTests {
    func connect(_ topology: AMQPTopology) async throws -> AMQPConnection {
        try await TestEnvironment.connect(topology, maxReconnectDelay: .milliseconds(300))
    }

    @Test("after a reconnect the buffer holds only the new connection's deliveries: each can be acked, none is stale")
    func staleDeliveriesDropped() async throws {
        let queue = TestEnvironment.uniqueNamespace("recover")
        let connection = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        for index in 0..<10 {
            try await connection.publish(
                exchange: "", routingKey: queue, body: Array("m\(index)".utf8),
                properties: AMQPProperties(deliveryMode: 2, messageID: "m\(index)"))
        }
        let consumer = connection.consume(queue: queue, prefetch: 10)
        let buffered = try await eventually { consumer.bufferedCount == 10 }
        #expect(buffered)
        let first = try #require(await consumer.next())
        // An ack of a tag the broker never sent closes the channel: the bridge starts a new connection, and the
        // broker gives all ten messages again to the new subscription.
        try? await connection.ack(AMQPReceipt(generation: first.receipt.generation, channel: first.receipt.channel, deliveryTag: 999_999))
        let redelivered = try await eventually {
            connection.isConsuming && consumer.bufferedCount == 10
        }
        #expect(redelivered, "buffered \(consumer.bufferedCount)")
        var acked = 0
        var seen = Set<String>()
        while consumer.bufferedCount > 0, let delivery = await consumer.next(timeout: .seconds(1)) {
            #expect(delivery.receipt.generation > first.receipt.generation, "a stale delivery was handed out")
            try await connection.ack(delivery.receipt)
            acked += 1
            seen.insert(delivery.properties.messageID ?? "")
        }
        #expect(acked == 10 && seen.count == 10)
        let empty = try await eventually { try await connection.queueStatus(queue).messageCount == 0 }
        #expect(empty)
        consumer.cancel()
        try? await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("a subscription the broker cancels (its queue deleted) comes back by itself: the queue is declared again and logs are stored")
    func resubscribesAfterCancel() async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
            body: WorkerIsolationTests.body(tenant: "acme", logID: "before"),
            properties: AMQPProperties(deliveryMode: 2, headers: ["x-tenant-id": .string("acme")]))
        let first = try await eventually { try await store.count(tenant: TenantID("acme")!) == 1 }
        #expect(first)
        try await fixture.connection.deleteQueue(fixture.topology.workQueue)
        // The worker's connection declares the queue (and its binding) again and resubscribes.
        let back = try await eventually(timeout: .seconds(10)) {
            guard worker.connection.isConsuming else { return false }
            return (try? await fixture.connection.queueStatus(fixture.topology.workQueue).consumerCount) == 1
        }
        #expect(back)
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
            body: WorkerIsolationTests.body(tenant: "acme", logID: "after"),
            properties: AMQPProperties(deliveryMode: 2, headers: ["x-tenant-id": .string("acme")]))
        let second = try await eventually { try await store.count(tenant: TenantID("acme")!) == 2 }
        #expect(second)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("readiness is 503 while the worker's subscription fails (no such queue), and 200 once it consumes")
    func readinessFollowsConsuming() async throws {
        let queue = TestEnvironment.uniqueNamespace("missing")
        let connection = try await connect(AMQPTopology())
        let consumer = connection.consume(queue: queue, prefetch: 1)
        let check = ReadinessCheck.consumer(connection)
        let failing = try await eventually { await check.probe() != nil }
        #expect(failing)
        #expect(await check.probe()?.contains("not consuming") == true)
        let other = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        let ready = try await eventually(timeout: .seconds(10)) { await check.probe() == nil }
        #expect(ready)
        consumer.cancel()
        try? await other.deleteQueue(queue)
        await other.close()
        await connection.close()
    }
}
