import AMQPBridge
import TestSupport
import Testing

/// The generic bridge against a real broker: returns, prefetch, acks and nacks.
@Suite("AMQP bridge", .timeLimit(.minutes(2)))
struct AMQPBridgeIntegrationTests {
    func connect(_ topology: AMQPTopology) async throws -> AMQPConnection {
        try await TestEnvironment.connect(topology)
    }

    @Test("a mandatory publish that matches no queue fails as unroutable; the connection stays usable")
    func unroutable() async throws {
        let name = TestEnvironment.uniqueNamespace("bridge")
        let connection = try await connect(
            AMQPTopology(
                exchanges: [.init(name: "\(name).x", type: "topic")], queues: [.init(name: "\(name).q")],
                bindings: [.init(queue: "\(name).q", exchange: "\(name).x", routingKey: "bound")]))
        var returned: AMQPError?
        do {
            try await connection.publish(
                exchange: "\(name).x", routingKey: "unbound", body: Array("x".utf8),
                properties: AMQPProperties(deliveryMode: 2, messageID: "m1"))
        } catch let error as AMQPError {
            returned = error
        }
        // Not mandatory: the broker confirms and drops it.
        try await connection.publish(
            exchange: "\(name).x", routingKey: "unbound", body: [1], properties: AMQPProperties(),
            mandatory: false)
        try await connection.publish(
            exchange: "\(name).x", routingKey: "bound", body: Array("kept".utf8),
            properties: AMQPProperties(deliveryMode: 2, messageID: "m2"))
        let status = try await connection.queueStatus("\(name).q")
        try await connection.deleteQueue("\(name).q")
        try await connection.deleteExchange("\(name).x")
        await connection.close()
        #expect(returned?.code == .unroutable)
        #expect(returned?.replyCode == 312)
        #expect(status.messageCount == 1)
    }

    @Test("a passive declare of a missing queue is a 404 server exception and the RPC channel recovers")
    func missingQueue() async throws {
        let connection = try await connect(AMQPTopology())
        var failure: AMQPError?
        do { _ = try await connection.queueStatus("no-such-queue-\(UInt32.random(in: 0...UInt32.max))") } catch let error as AMQPError { failure = error }
        let name = TestEnvironment.uniqueNamespace("bridge")
        try await connection.declare(AMQPTopology(queues: [.init(name: name, durable: false)]))
        let status = try await connection.queueStatus(name)
        try await connection.deleteQueue(name)
        await connection.close()
        #expect(failure?.code == .serverException)
        #expect(failure?.replyCode == 404)
        #expect(status.messageCount == 0)
        #expect(connection.isConnected == false)
    }

    @Test("a consumer gets at most `prefetch` unacked messages; a multiple ack releases the next ones; nack requeues")
    func prefetchAndAcks() async throws {
        let queue = TestEnvironment.uniqueNamespace("bridge")
        let connection = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        for index in 0..<10 {
            try await connection.publish(
                exchange: "", routingKey: queue, body: Array("m\(index)".utf8),
                properties: AMQPProperties(deliveryMode: 2, messageID: "m\(index)"))
        }
        var iterator = connection.consume(queue: queue, prefetch: 3).makeAsyncIterator()
        var received: [AMQPDelivery] = []
        for _ in 0..<3 { received.append(try #require(await iterator.next())) }
        // Three are out, unacked: seven stay ready, and the broker sends no fourth.
        let sevenReady = try await eventually { try await connection.queueStatus(queue).messageCount == 7 }
        #expect(sevenReady)
        #expect(received.map { String(decoding: $0.body, as: UTF8.self) } == ["m0", "m1", "m2"])

        try await connection.ack(received[2].receipt, multiple: true)
        for _ in 0..<3 { received.append(try #require(await iterator.next())) }
        #expect(received[3...].map(\.properties.messageID) == ["m3", "m4", "m5"])
        let fourReady = try await eventually { try await connection.queueStatus(queue).messageCount == 4 }
        #expect(fourReady)

        // Reject m3 back to the queue (single), ack m4 and m5: m3 comes back marked redelivered.
        try await connection.nack(received[3].receipt, requeue: true)
        try await connection.ack(received[4].receipt)
        try await connection.ack(received[5].receipt)
        var redelivered: AMQPDelivery?
        var seen: [String] = []
        while seen.count < 5 {
            let delivery = try #require(await iterator.next())
            seen.append(delivery.properties.messageID ?? "?")
            if delivery.properties.messageID == "m3" { redelivered = delivery }
            try await connection.ack(delivery.receipt)
        }
        #expect(Set(seen) == ["m3", "m6", "m7", "m8", "m9"])
        #expect(redelivered?.redelivered == true)
        let empty = try await eventually { try await connection.queueStatus(queue) == AMQPQueueStatus(messageCount: 0, consumerCount: 1) }
        #expect(empty)
        try await connection.deleteQueue(queue)
        await connection.close()
    }

    @Test("many publishes in flight are each confirmed")
    func pipelinedConfirms() async throws {
        let queue = TestEnvironment.uniqueNamespace("bridge")
        let connection = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for index in 0..<1000 {
                group.addTask {
                    try await connection.publish(
                        exchange: "", routingKey: queue, body: Array(repeating: 0x61, count: 200),
                        properties: AMQPProperties(deliveryMode: 2, messageID: "p\(index)"))
                }
            }
            try await group.waitForAll()
        }
        let count = try await connection.queueStatus(queue).messageCount
        try await connection.deleteQueue(queue)
        await connection.close()
        #expect(count == 1000)
    }

    @Test("operations after close fail with `closed`")
    func afterClose() async throws {
        let connection = try await connect(AMQPTopology())
        await connection.close()
        await #expect(throws: AMQPError(.closed, "the connection was closed")) {
            try await connection.publish(exchange: "", routingKey: "x", body: [], properties: AMQPProperties())
        }
    }

    @Test("a consumer registered before the connection is up subscribes once and gets every message")
    func consumerBeforeConnect() async throws {
        let queue = TestEnvironment.uniqueNamespace("bridge")
        let publisher = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        let connection = AMQPConnection(
            configuration: try AMQPConfiguration(url: TestEnvironment.amqpURL),
            topology: AMQPTopology(queues: [.init(name: queue)]), logger: TestEnvironment.logger)
        let consumer = connection.consume(queue: queue, prefetch: 100)
        connection.start()
        try await connection.waitUntilConnected(timeout: .seconds(10))
        for index in 0..<20 {
            try await publisher.publish(exchange: "", routingKey: queue, body: Array("m\(index)".utf8), properties: AMQPProperties(messageID: "m\(index)"))
        }
        var received: [String] = []
        while received.count < 20, let batch = await consumer.nextBatch(max: 20, linger: .milliseconds(10)) {
            received += batch.compactMap(\.properties.messageID)
            try await connection.ack(batch.last!.receipt, multiple: true)
        }
        let status = try await publisher.queueStatus(queue)
        consumer.cancel()
        try await publisher.deleteQueue(queue)
        await connection.close()
        await publisher.close()
        #expect(Set(received) == Set((0..<20).map { "m\($0)" }))
        #expect(status.consumerCount == 1)
    }

    @Test("a message larger than a frame arrives whole")
    func largeMessage() async throws {
        let queue = TestEnvironment.uniqueNamespace("bridge")
        let connection = try await connect(AMQPTopology(queues: [.init(name: queue)]))
        let body = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await connection.publish(exchange: "", routingKey: queue, body: body, properties: AMQPProperties(messageID: "big"))
        let consumer = connection.consume(queue: queue, prefetch: 10)
        let delivery = try #require(await consumer.next())
        try await connection.ack(delivery.receipt)
        consumer.cancel()
        try await connection.deleteQueue(queue)
        await connection.close()
        #expect(delivery.body == body)
        #expect(delivery.properties.messageID == "big")
    }
}
