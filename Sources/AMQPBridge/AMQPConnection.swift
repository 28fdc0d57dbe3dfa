import Logging
import Synchronization

/// An AMQP 0-9-1 connection over rabbitmq-c that reconnects by itself.
///
/// Every rabbitmq-c call runs on one dedicated thread owned by this connection; the async methods enqueue
/// work for that thread and suspend until it is done. Publishes are pipelined: `publish` returns when the
/// broker's confirm for that message arrives, while other publishes are already on the wire.
///
/// After every (re)connect the connection declares `topology` and re-subscribes every active consumer, so
/// callers only see a short window of `notConnected` errors while the broker is away.
public final class AMQPConnection: Sendable {
    public let configuration: AMQPConfiguration
    let loop: ConnectionLoop
    private let publishes = Atomic<Int>(0)

    /// Creates a connection; nothing happens until ``start()``.
    public init(configuration: AMQPConfiguration, topology: AMQPTopology = AMQPTopology(), logger: Logger) {
        if configuration.skipsTLSVerification {
            logger.warning(
                "TLS certificate verification is off (LOGPIPE_AMQP_TLS_VERIFY=false): the broker's identity is not checked",
                metadata: ["amqp.connection": "\(configuration.connectionName)"])
        }
        self.configuration = configuration
        self.loop = ConnectionLoop(configuration: configuration, topology: topology, logger: logger)
    }

    /// Starts the connection thread, which connects (and reconnects) in the background.
    public func start() { loop.start() }

    /// Messages handed to ``publish(exchange:routingKey:body:properties:mandatory:)`` and ``publish(_:)`` since
    /// the connection was made, confirmed or not: with the logs accepted, how many logs travel in a message.
    public var publishedMessages: Int { publishes.load(ordering: .relaxed) }

    /// Stops the thread: queued operations fail with `closed`, consumers' streams finish, the connection
    /// is closed politely. Returns when the thread has exited. Idempotent.
    public func close() async { await loop.close() }

    /// True while a connection is open and its publishing channel is in confirm mode.
    public var isConnected: Bool { loop.isConnected }

    /// True while connected and every consumer of this connection is subscribed (none cancelled by the
    /// broker or failing to subscribe).
    public var isConsuming: Bool { loop.isConsuming }

    /// How many times this connection has connected (for tests and diagnostics: a restart after a channel
    /// error counts one more).
    public var connects: Int { loop.connects }

    /// The node this connection is on while connected (one of `configuration.endpoints`).
    public var endpoint: AMQPEndpoint? { loop.endpoint }

    /// Why the last attempt to connect failed (every endpoint tried), until a connect succeeds; a
    /// `topologyMismatch` says how to migrate.
    public var lastError: AMQPError? { loop.lastError }
    /// Connects that failed on every endpoint since ``start()`` (each one then waits its backoff).
    public var failedConnects: Int { loop.failedConnects }

    /// True while the broker has told us to stop publishing (`connection.blocked`, a resource alarm).
    public var isBlocked: Bool { loop.isBlocked }

    /// Waits until connected, polling until `timeout` runs out.
    public func waitUntilConnected(timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while !isConnected {
            guard ContinuousClock.now < deadline else {
                if let lastError, lastError.code == .topologyMismatch { throw lastError }
                throw AMQPError(
                    .notConnected,
                    "no connection to \(configuration.redactedURL) within \(timeout)"
                        + (lastError.map { " (last error: \($0.reason))" } ?? ""))
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    // MARK: - Publishing

    /// Publishes one message on the confirm channel and returns once the broker confirmed it.
    ///
    /// Throws `nacked`, `unroutable` (mandatory and no queue matched), `confirmTimeout`, `connectionLost`
    /// (the outcome is unknown) or `notConnected` (nothing was sent).
    public func publish(
        exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties,
        mandatory: Bool = true
    ) async throws {
        publishes.add(1, ordering: .relaxed)
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            loop.enqueue(
                ConnectionLoop.Command(
                    execute: { session in
                        try session.publish(
                            exchange: exchange, routingKey: routingKey, body: body,
                            properties: properties, mandatory: mandatory, continuation: continuation)
                    },
                    fail: { continuation.resume(throwing: $0) }, isWrite: true))
        }
    }

    /// A message for ``publish(_:)``.
    public struct OutgoingMessage: Sendable {
        public var exchange: String
        public var routingKey: String
        public var body: [UInt8]
        public var properties: AMQPProperties
        public var mandatory: Bool
        public init(exchange: String, routingKey: String, body: [UInt8], properties: AMQPProperties, mandatory: Bool = true) {
            self.exchange = exchange
            self.routingKey = routingKey
            self.body = body
            self.properties = properties
            self.mandatory = mandatory
        }
    }

    /// Publishes `messages` in their order with one hop to the connection's thread, all in flight at once, and
    /// returns each one's outcome (`nil` = confirmed) once every confirm or failure is in. What a request splits
    /// into (a batch's tenants) goes this way: one command, one wake-up and one caller waiting, not one each.
    /// Concurrent single publishes can reach the wire in any order; these reach it as listed (a DLQ replay keeps
    /// the queue's order).
    public func publish(_ messages: [OutgoingMessage]) async -> [AMQPError?] {
        guard !messages.isEmpty else { return [] }
        publishes.add(messages.count, ordering: .relaxed)
        return await withCheckedContinuation { (continuation: CheckedContinuation<[AMQPError?], Never>) in
            loop.enqueue(
                ConnectionLoop.Command(
                    execute: { session in try session.publish(messages, continuation: continuation) },
                    fail: { continuation.resume(returning: Array(repeating: $0, count: messages.count)) }, isWrite: true))
        }
    }

    // MARK: - Topology and queue operations

    /// Declares exchanges, queues and bindings (idempotent; a mismatch in arguments is a `serverException`).
    public func declare(_ topology: AMQPTopology) async throws {
        try await perform { try $0.raw.declare(topology) }
    }

    /// Message and consumer counts of a queue (passive declare; a missing queue is a `serverException` 404).
    public func queueStatus(_ queue: String) async throws -> AMQPQueueStatus {
        try await perform { try $0.raw.queueStatus(queue) }
    }

    /// Removes every ready message from a queue; returns how many.
    @discardableResult
    public func purge(_ queue: String) async throws -> UInt32 {
        try await perform { try $0.raw.purge(queue) }
    }

    public func deleteQueue(_ queue: String) async throws {
        try await perform { try $0.raw.deleteQueue(queue) }
    }

    public func deleteExchange(_ exchange: String) async throws {
        try await perform { try $0.raw.deleteExchange(exchange) }
    }

    /// Takes one message with `basic.get` (manual ack); `nil` when the queue is empty.
    public func get(_ queue: String) async throws -> AMQPDelivery? {
        try await perform { try $0.raw.get(queue, generation: $0.generation) }
    }

    // MARK: - Consuming

    /// Subscribes to a queue with manual acknowledgement and `prefetch` unacked messages at most.
    ///
    /// The subscription survives reconnects (unacked deliveries of a lost connection are redelivered by the
    /// broker). ``AMQPConsumer/cancel()`` ends it.
    public func consume(queue: String, prefetch: UInt16) -> AMQPConsumer {
        let id = loop.reserveConsumerID()
        let consumer = AMQPConsumer(
            onCancel: { [loop] in loop.removeConsumer(id) },
            onCancelAndWait: { [loop] in await loop.removeConsumerAndWait(id) })
        loop.addConsumer(id: id, queue: queue, prefetch: prefetch, consumer: consumer)
        return consumer
    }

    /// Acknowledges a delivery (and with `multiple`, every earlier one on the same channel).
    public func ack(_ receipt: AMQPReceipt, multiple: Bool = false) async throws {
        try await perform(isWrite: true) { session in
            try session.checkCurrent(receipt)
            try session.raw.ack(channel: receipt.channel, deliveryTag: receipt.deliveryTag, multiple: multiple)
        }
    }

    /// Rejects a delivery; `requeue: false` dead-letters it (if the queue has a dead-letter exchange) or drops it.
    public func nack(_ receipt: AMQPReceipt, multiple: Bool = false, requeue: Bool) async throws {
        try await perform(isWrite: true) { session in
            try session.checkCurrent(receipt)
            try session.raw.nack(
                channel: receipt.channel, deliveryTag: receipt.deliveryTag, multiple: multiple,
                requeue: requeue)
        }
    }

    /// Runs `body` on the connection thread with the live session and returns its result.
    private func perform<Result: Sendable>(
        isWrite: Bool = false,
        _ body: @escaping @Sendable (ConnectionLoop.Session) throws -> Result
    ) async throws -> Result {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Result, any Error>) in
            loop.enqueue(
                ConnectionLoop.Command(
                    execute: { session in
                        do {
                            continuation.resume(returning: try body(session))
                        } catch let error as AMQPError {
                            continuation.resume(throwing: error)
                            if error.code == .connectionLost { throw error }
                        } catch {
                            continuation.resume(throwing: error)
                        }
                    },
                    fail: { continuation.resume(throwing: $0) }, isWrite: isWrite))
        }
    }
}
