import AMQPBridge

/// What a worker needs of the broker: subscriptions to the work queues, settling deliveries, publishing the
/// retry and DLQ copies with a confirm, and queue depths. ``AMQPConnection`` is the real one; the worker's unit
/// tests use an in-memory one, so batching, settling, isolation and shutdown are tested without a broker.
public protocol WorkChannel: Sendable {
    /// Subscribes to `queue` with manual acknowledgement and at most `prefetch` unacked deliveries.
    func subscribe(queue: String, prefetch: Int) -> any DeliveryStream
    /// Acknowledges a delivery (and with `multiple`, every earlier one of its subscription).
    func ack(_ receipt: AMQPReceipt, multiple: Bool) async throws
    /// Rejects a delivery; `requeue` gives it back to its queue.
    func nack(_ receipt: AMQPReceipt, multiple: Bool, requeue: Bool) async throws
    /// Publishes a persistent copy and returns once the broker confirmed it.
    func publish(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool) async throws
    /// Ready messages and consumers of a queue.
    func queueStatus(_ queue: String) async throws -> AMQPQueueStatus
}

/// The deliveries of one subscription.
public protocol DeliveryStream: Sendable {
    /// Waits for at least one delivery, then lingers as `linger` (asked then) says while fewer than `max` are
    /// buffered; returns up to `max`; `nil` when the subscription ended or waiting was stopped.
    func nextBatch(max: Int, linger: () -> AMQPConsumer.Linger) async -> [AMQPDelivery]?
    /// Ends the current or next linger (the worker's store became free).
    func wake()
    /// Forgets a wake no linger has consumed (the worker starts its next write).
    func discardWake()
    /// Makes current and future waits return `nil` (graceful shutdown); buffered deliveries stay unacked.
    func stopWaiting()
    /// Ends the subscription; what was not acked goes back to the queue.
    func cancel()
}

extension AMQPConsumer: DeliveryStream {}

extension AMQPConnection: WorkChannel {
    public func subscribe(queue: String, prefetch: Int) -> any DeliveryStream {
        consume(queue: queue, prefetch: UInt16(clamping: prefetch))
    }
}
