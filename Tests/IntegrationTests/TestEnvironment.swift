import AMQPBridge
import Foundation
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import Logging
import Testing

@testable import LogPipeApp

/// Where the integration tests find their broker: `scripts/test.sh` starts a private RabbitMQ node and
/// exports `LOGPIPE_TEST_AMQP_URL`. Without it every integration test fails (none is skipped).
enum TestEnvironment {
    static var amqpURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["LOGPIPE_TEST_AMQP_URL"], !url.isEmpty else {
                throw Missing(description: "LOGPIPE_TEST_AMQP_URL is not set: run the tests with scripts/test.sh, which starts a private RabbitMQ node")
            }
            return url
        }
    }

    /// The application user's URI of the MongoDB server that `scripts/test.sh` starts (`LOGPIPE_TEST_MONGO_URI`):
    /// SecantusDB, an independent MongoDB-wire-protocol server, not MongoDB.
    static var mongoURI: String {
        get throws {
            guard let uri = ProcessInfo.processInfo.environment["LOGPIPE_TEST_MONGO_URI"], !uri.isEmpty else {
                throw Missing(
                    description: "LOGPIPE_TEST_MONGO_URI is not set: run the tests with scripts/test.sh, which starts SecantusDB (scripts/secantus.sh)")
            }
            return uri
        }
    }

    /// A missing piece of the integration environment, with what to do about it.
    struct Missing: Error, CustomStringConvertible { var description: String }

    /// The repository root (for broker/rabbitmq.sh).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var logger: Logger {
        var logger = Logger(label: "logpipe.tests")
        logger.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .critical
        return logger
    }

    /// A started, connected bridge connection to the test broker with `topology` declared.
    static func connect(_ topology: AMQPTopology, maxReconnectDelay: Duration? = nil) async throws -> AMQPConnection {
        var configuration = try AMQPConfiguration(url: amqpURL)
        if let maxReconnectDelay { configuration.maxReconnectDelay = maxReconnectDelay }
        let connection = AMQPConnection(configuration: configuration, topology: topology, logger: logger)
        connection.start()
        try await connection.waitUntilConnected(timeout: .seconds(10))
        return connection
    }

    /// A namespace no other test uses, so tests can run in parallel on one broker.
    static func uniqueNamespace(_ prefix: String = "t") -> String {
        "\(prefix)-\(UInt64.random(in: 0...UInt64.max) & 0xFFFF_FFFF_FFFF)"
    }
}

/// A test store that wraps a real one and changes only how it writes (failures, refusals, bookkeeping).
protocol WrappingStore: LogStore {
    var inner: any LogStore { get }
}

extension WrappingStore {
    func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? { try await inner.get(tenant: tenant, logID: logID) }
    func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog] { try await inner.find(tenant: tenant, query) }
    func count(tenant: TenantID) async throws(StoreError) -> Int { try await inner.count(tenant: tenant) }
    func ping() async throws(StoreError) { try await inner.ping() }
}

/// A started, connected ``AMQPConnection`` with logpipe's topology declared under a fresh namespace.
struct BrokerFixture {
    let connection: AMQPConnection
    let topology: Topology
    let configuration: LogPipeConfiguration

    static func start(
        url: String? = nil, confirmTimeout: Duration = .seconds(5),
        retryPolicy: RetryPolicy = RetryPolicy(), queueType: QueueType = .classic, workShards: Int = 1,
        deliveryLimit: Int = 20
    ) async throws -> BrokerFixture {
        var configuration = LogPipeConfiguration()
        configuration.amqp.url = try url ?? TestEnvironment.amqpURL
        configuration.amqp.namespace = TestEnvironment.uniqueNamespace()
        configuration.amqp.confirmTimeout = confirmTimeout
        configuration.retryPolicy = retryPolicy
        configuration.amqp.queueType = queueType
        configuration.amqp.workShards = workShards
        configuration.amqp.deliveryLimit = deliveryLimit
        let topology = configuration.topology
        var amqp = try configuration.amqpConfiguration(connectionName: "logpipe-test")
        amqp.maxReconnectDelay = .milliseconds(500)
        let connection = AMQPConnection(configuration: amqp, topology: topology.declarations, logger: TestEnvironment.logger)
        connection.start()
        try await connection.waitUntilConnected(timeout: .seconds(15))
        return BrokerFixture(connection: connection, topology: topology, configuration: configuration)
    }

    /// Publishes `count` valid work messages for `tenant` straight to the ingest exchange, 50 in flight, as the
    /// API does: log ids `<prefix>-0 …`, texts `crash test line <n> bob@example.com`.
    func publishLogs(_ count: Int, tenant: String = "acme", prefix: String = "k") async throws {
        let connection = connection
        let exchange = topology.ingestExchange
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<50 {
                group.addTask {
                    for index in stride(from: worker, to: count, by: 50) {
                        let record = LogRecord(
                            tenantID: TenantID(tenant)!, logID: "\(prefix)-\(index)", text: "crash test line \(index) bob@example.com",
                            receivedAt: "2026-11-29T10:00:00.000Z", requestID: "r-\(index)")
                        try await connection.publish(
                            exchange: exchange, routingKey: "tenant.\(tenant)",
                            body: Array(try JSONEncoder().encode(record)),
                            properties: AMQPProperties(
                                contentType: "application/json", deliveryMode: 2, messageID: record.logID,
                                headers: [MessageHeader.tenant: .string(tenant)]))
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// Takes every ready message from a queue (acking each) until it stays empty.
    func drain(_ queue: String) async throws -> [AMQPDelivery] {
        var messages: [AMQPDelivery] = []
        while let delivery = try await connection.get(queue) {
            messages.append(delivery)
            try await connection.ack(delivery.receipt)
        }
        return messages
    }

    func readyCount(_ queue: String) async throws -> UInt32 {
        try await connection.queueStatus(queue).messageCount
    }

    /// Deletes this namespace's queues and exchanges, then closes the connection.
    func tearDown() async {
        for queue in topology.allQueues { try? await connection.deleteQueue(queue) }
        try? await connection.deleteExchange(topology.ingestExchange)
        try? await connection.deleteExchange(topology.deadLetterExchange)
        if topology.workShards > 1 { try? await connection.deleteExchange(topology.shardExchange) }
        await connection.close()
    }
}

/// A `LogWorker` on a connection of its own, consuming the fixture's work queue; stop it with ``stop()``.
struct RunningWorker {
    let connection: AMQPConnection
    let task: Task<Void, any Error>

    static func start(
        _ fixture: BrokerFixture, store: any LogStore, policy: RetryPolicy, prefetch: Int = 50, batchSize: Int = 20,
        storeBackoff: Duration = .milliseconds(10), metrics: LogPipeMetrics? = nil,
        afterMovingBeforeAck: (@Sendable () async -> Void)? = nil,
        connection: AMQPConnection? = nil
    ) async throws -> RunningWorker {
        let connection =
            try connection
            ?? AMQPConnection(
                configuration: fixture.configuration.amqpConfiguration(connectionName: "logpipe-test-worker"),
                topology: fixture.topology.declarations, logger: TestEnvironment.logger)
        connection.start()
        try await connection.waitUntilConnected(timeout: .seconds(10))
        var configuration = LogWorker.Configuration()
        configuration.prefetch = prefetch
        configuration.batchSize = batchSize
        configuration.flushInterval = .milliseconds(10)
        configuration.storeBackoff = storeBackoff
        configuration.maxStoreBackoff = storeBackoff * 2
        configuration.retryPolicy = policy
        configuration.queueDepthInterval = .milliseconds(100)
        var worker = LogWorker(
            connection: connection, topology: fixture.topology, store: store, redaction: RedactionPolicy(),
            configuration: configuration, logger: TestEnvironment.logger, metrics: metrics)
        worker.afterMovingBeforeAck = afterMovingBeforeAck
        let running = worker
        return RunningWorker(connection: connection, task: Task { try await running.run() })
    }

    func stop() async {
        task.cancel()
        _ = await task.result
        await connection.close()
    }
}

/// A test's pipeline in one process: the API (the real publisher, `limits`) on Hummingbird's test client, and a
/// worker consuming into `store` unless `worker` is false; the worker is stopped and the namespace deleted
/// afterwards, whatever `body` does. `configure` adjusts the API's configuration (body budget, timeouts).
func withPipeline<Store: LogStore>(
    store: Store, worker: Bool = true,
    retryPolicy: RetryPolicy = RetryPolicy(delays: [.milliseconds(200), .milliseconds(400)], maxAttempts: 5),
    storeBackoff: Duration = .milliseconds(10), limits: AMQPLogPublisher.Limits = AMQPLogPublisher.Limits(),
    testing: TestingSetup = .router, configure: (inout LogPipeConfiguration) -> Void = { _ in },
    _ body: @escaping @Sendable (BrokerFixture, any TestClientProtocol, Store) async throws -> Void
) async throws {
    let fixture = try await BrokerFixture.start(retryPolicy: retryPolicy)
    let running = worker ? try await RunningWorker.start(fixture, store: store, policy: retryPolicy, storeBackoff: storeBackoff) : nil
    var configuration = fixture.configuration
    configure(&configuration)
    let api = IngestAPI(
        publisher: AMQPLogPublisher(connection: fixture.connection, topology: fixture.topology, limits: limits), configuration: configuration)
    do {
        try await Application(router: api.router()).test(testing) { client in try await body(fixture, client, store) }
    } catch {
        await running?.stop()
        await fixture.tearDown()
        throw error
    }
    await running?.stop()
    await fixture.tearDown()
}
