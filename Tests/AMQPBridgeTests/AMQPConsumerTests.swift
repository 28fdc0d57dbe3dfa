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
    func droppedWhileLingering() async {
        let consumer = AMQPConsumer(onCancel: {}, onCancelAndWait: {})
        consumer.yield(Self.delivery(1, generation: 1))
        let batch = Task { await consumer.nextBatch(max: 10, linger: .milliseconds(300)) }
        // The reconnect: generation 2 makes the buffered delivery stale, then its redelivery arrives.
        try? await Task.sleep(for: .milliseconds(50))
        consumer.dropDeliveries(before: 2)
        try? await Task.sleep(for: .milliseconds(400))
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
}
