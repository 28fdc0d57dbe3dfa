import TestSupport
import Testing

@testable import AMQPBridge

/// The delivery buffer of a subscription, fed by hand as the connection thread feeds it.
@Suite("AMQP consumer buffer")
struct AMQPConsumerTests {
    static func delivery(_ tag: UInt64, generation: UInt64) -> AMQPDelivery {
        AMQPDelivery(
            body: [], properties: AMQPProperties(messageID: "m-\(generation)-\(tag)"), exchange: "x", routingKey: "k",
            redelivered: false, deliveryTag: tag,
            receipt: AMQPReceipt(generation: generation, channel: 3, deliveryTag: tag))
    }

    @Test("deliveries dropped by a reconnect while a batch lingers do not end the subscription: the next delivery is returned")
    func droppedWhileLingering() async throws {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        consumer.yield(Self.delivery(1, generation: 1))
        let batch = Task { await consumer.nextBatch(max: 10, linger: .milliseconds(300)) }
        // The reconnect, while the batch lingers: generation 2 makes the buffered delivery stale.
        #expect(try await eventually { consumer.waiting?.lingering == true })
        consumer.dropDeliveries(before: 2)
        // Its linger over with nothing left, the batch waits for a first delivery again; the redelivery arrives.
        #expect(try await eventually { consumer.waiting.map { !$0.lingering && $0.threshold == 1 } == true })
        consumer.yield(Self.delivery(1, generation: 2))
        let taken = await batch.value
        #expect(taken?.map(\.properties.messageID) == ["m-2-1"])
    }

    @Test("a stopped wait returns nil even with deliveries buffered; a finished subscription returns nil")
    func stopAndFinish() async {
        let stopped = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        stopped.yield(Self.delivery(1, generation: 1))
        stopped.stopWaiting()
        #expect(await stopped.nextBatch(max: 10, linger: .zero) == nil)
        let finished = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        finished.finish()
        #expect(await finished.nextBatch(max: 10, linger: .zero) == nil)
    }

    @Test("a linger ends as soon as the batch is full")
    func lingerEndsWhenFull() async {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        let start = ContinuousClock.now
        let batch = Task { await consumer.nextBatch(max: 3, linger: .upTo(.seconds(600))) }
        for tag in 1...3 { consumer.yield(Self.delivery(UInt64(tag), generation: 1)) }
        #expect(await batch.value?.count == 3)
        #expect(ContinuousClock.now - start < .seconds(60))
    }

    @Test("a linger until woken ends on wake(), also on a wake that came before it; a timed linger ignores an earlier wake")
    func wakeEndsLinger() async {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        consumer.yield(Self.delivery(1, generation: 1))
        let batch = Task { await consumer.nextBatch(max: 10, linger: .untilWoken) }
        consumer.wake()
        #expect(await batch.value?.count == 1)

        consumer.wake()  // nobody lingers: kept for the next linger until woken
        consumer.yield(Self.delivery(2, generation: 1))
        #expect(await consumer.nextBatch(max: 10, linger: .untilWoken)?.count == 1)

        consumer.wake()
        consumer.yield(Self.delivery(3, generation: 1))
        let start = ContinuousClock.now
        #expect(await consumer.nextBatch(max: 10, linger: .upTo(.milliseconds(200)))?.count == 1)
        #expect(ContinuousClock.now - start >= .milliseconds(200))
    }

    @Test("a cancelled linger returns what is buffered")
    func cancelledLinger() async {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        consumer.yield(Self.delivery(1, generation: 1))
        let batch = Task { await consumer.nextBatch(max: 10, linger: .untilWoken) }
        batch.cancel()
        #expect(await batch.value?.count == 1)
    }

    @Test("batches smaller than what is buffered do not keep the deliveries taken: the buffer stays bounded")
    func takenDeliveriesAreDropped() async {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        var tag: UInt64 = 0
        for _ in 0..<10 {
            tag += 1
            consumer.yield(Self.delivery(tag, generation: 1))
        }
        // A worker's steady state: one in, one out, never empty (before, all 10,000 stayed in memory).
        for _ in 0..<10_000 {
            tag += 1
            consumer.yield(Self.delivery(tag, generation: 1))
            #expect(await consumer.nextBatch(max: 1, linger: .none)?.count == 1)
        }
        #expect(consumer.bufferedCount == 10)
        #expect(consumer.retainedCount < 200)
    }
}
