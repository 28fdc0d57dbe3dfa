import AMQPBridge
import Foundation
import LogPipeCore
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// A store that can be switched between failing (transiently) and working, and remembers when each log
/// was tried and how often it was written.
final class SwitchableStore: WrappingStore {
    let inner: any LogStore
    let failing: Mutex<Bool>
    /// Every write attempt of each log id, with the time.
    let attempts = Mutex<[String: [ContinuousClock.Instant]]>([:])
    /// Successful writes of each log id (a duplicate write counts too).
    let writes = Mutex<[String: Int]>([:])

    init(_ inner: any LogStore, failing: Bool) {
        self.inner = inner
        self.failing = Mutex(failing)
    }

    func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        let now = ContinuousClock.now
        attempts.withLock { for log in logs { $0[log.logID, default: []].append(now) } }
        if failing.withLock({ $0 }) { throw StoreError(transient: true, "injected outage") }
        let result = try await inner.write(logs)
        writes.withLock { for log in logs { $0[log.logID, default: 0] += 1 } }
        return result
    }

}

/// Retry tiers, the DLQ and `logpipe dlq`, against the real broker.
@Suite("Retries and the DLQ", .timeLimit(.minutes(3)))
struct RetryAndDLQTests {
    static let policy = RetryPolicy(delays: [.milliseconds(300), .milliseconds(900)], maxAttempts: 3)

    static func temporaryStore() throws -> SQLiteLogStore {
        try SQLiteLogStore(path: "/tmp/logpipe-dlq-tests/\(UUID().uuidString).sqlite")
    }

    static func record(_ tenant: String, _ logID: String, _ text: String = "user bob@example.com from 10.0.0.1") -> LogRecord {
        LogRecord(tenantID: TenantID(tenant)!, logID: logID, text: text, receivedAt: "2026-11-29T10:00:00.000Z", requestID: "req-\(logID)")
    }

    /// Publishes a work message as the API does.
    static func publish(_ record: LogRecord, _ fixture: BrokerFixture) async throws {
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: record.tenantID.routingKey,
            body: Array(try JSONEncoder().encode(record)),
            properties: AMQPProperties(
                contentType: "application/json", deliveryMode: 2, messageID: record.logID,
                correlationID: record.requestID, headers: [MessageHeader.tenant: .string(record.tenantID.rawValue)]))
    }

    /// Puts a message straight into the DLQ as the worker parks one.
    static func park(_ record: LogRecord, reason: String, _ fixture: BrokerFixture) async throws {
        try await fixture.connection.publish(
            exchange: "", routingKey: fixture.topology.deadLetterQueue, body: Array(try JSONEncoder().encode(record)),
            properties: AMQPProperties(
                contentType: "application/json", deliveryMode: 2, messageID: record.logID,
                headers: [
                    MessageHeader.tenant: .string(record.tenantID.rawValue), MessageHeader.error: .string(reason),
                    MessageHeader.attempt: .int(3), MessageHeader.failedAt: .string(UnixTime.now.rfc3339),
                    MessageHeader.routingKey: .string(record.tenantID.routingKey),
                ]))
    }

    /// The message ids in a queue, in order, taken without changing it (basic.get, then requeue all).
    static func ids(in queue: String, _ fixture: BrokerFixture) async throws -> [String] {
        let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
        precondition(queue == fixture.topology.deadLetterQueue)
        return try await dlq.peek(ParkedFilter(), limit: 10_000).map { $0.logID ?? "?" }
    }

    @Test(
        "transient failures climb the tiers with their delays, park after the last attempt with the headers, and replay stores each once",
        .serialized, arguments: [(QueueType.classic, 1), (.quorum, 1), (.quorum, 3)])
    func tiersThenParkThenReplay(_ queueType: QueueType, _ shards: Int) async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy, queueType: queueType, workShards: shards)
        let store = SwitchableStore(try Self.temporaryStore(), failing: true)
        let worker = try await RunningWorker.start(fixture, store: store, policy: Self.policy)
        for index in 0..<5 { try await Self.publish(Self.record("acme", "t-\(index)"), fixture) }

        let parked = try await eventually(timeout: .seconds(20)) {
            try await fixture.readyCount(fixture.topology.deadLetterQueue) == 5
        }
        #expect(parked)
        // Three attempts each, spaced by the tiers' delays (at least the TTL; at most the TTL plus eight seconds, for
        // a 2-core machine busy with the other suites: a cold CI run once took the TTL plus 4.04 s).
        for (logID, times) in store.attempts.withLock({ $0 }) {
            #expect(times.count == 3, "\(logID)")
            guard times.count == 3 else { continue }
            let first = times[1] - times[0], second = times[2] - times[1]
            #expect(first >= .milliseconds(300) && first < .milliseconds(8300), "\(logID): \(first)")
            #expect(second >= .milliseconds(900) && second < .milliseconds(8900), "\(logID): \(second)")
        }
        for queue in fixture.topology.workQueues + fixture.topology.retryQueues { #expect(try await fixture.readyCount(queue) == 0) }

        // The parked copies carry the bookkeeping headers and no log content in them.
        let messages = try await DeadLetterQueue(connection: fixture.connection, topology: fixture.topology).peek(ParkedFilter(), limit: 10)
        #expect(Set(messages.compactMap(\.logID)) == Set((0..<5).map { "t-\($0)" }))
        for message in messages {
            let headers = message.delivery.properties.headers
            #expect(headers[MessageHeader.attempt] == .int(3))
            #expect(headers[MessageHeader.error] == .string("store_unavailable"))
            #expect(headers[MessageHeader.routingKey] == .string("tenant.acme"))
            let failedAt = headers[MessageHeader.failedAt]?.stringValue ?? ""
            #expect(RFC3339.isValid(failedAt))
            #expect(message.tenant == "acme")
        }
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 5)

        // The store recovers; a replay sends everything back and each log is stored exactly once.
        store.failing.withLock { $0 = false }
        let report = try await DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
            .replay(ParkedFilter(), limit: .max, dryRun: false)
        #expect(report.replayed == 5 && report.failed == 0)
        let stored = try await eventually(timeout: .seconds(10)) { try await store.count(tenant: TenantID("acme")!) == 5 }
        #expect(stored)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
        #expect(store.writes.withLock { $0 } == Dictionary(uniqueKeysWithValues: (0..<5).map { ("t-\($0)", 1) }))
        #expect(try await store.get(tenant: TenantID("acme")!, logID: "t-0")?.text == "user [REDACTED:EMAIL] from [REDACTED:IP_ADDRESS]")
        await worker.stop()
        await fixture.tearDown()
    }

    @Test(
        "poison messages are parked on first sight with their reason; the store never sees them",
        arguments: [
            ("not json", "undecodable"),
            (#"{"v":1,"tenant_id":"Not A Tenant!","log_id":"x","text":"t","received_at":"2026-11-29T10:00:00Z","request_id":"r"}"#, "invalid_tenant"),
            (#"{"v":99,"tenant_id":"acme","log_id":"x","text":"t","received_at":"2026-11-29T10:00:00Z","request_id":"r"}"#, "unknown_schema"),
        ])
    func poison(_ body: String, _ reason: String) async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        let store = SwitchableStore(try Self.temporaryStore(), failing: false)
        let worker = try await RunningWorker.start(fixture, store: store, policy: Self.policy)
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
            body: Array(body.utf8), properties: AMQPProperties(deliveryMode: 2, messageID: "poison"))
        try await Self.publish(Self.record("acme", "good"), fixture)
        let done = try await eventually {
            let parked = try await fixture.readyCount(fixture.topology.deadLetterQueue)
            let stored = try await store.count(tenant: TenantID("acme")!)
            return parked == 1 && stored == 1
        }
        #expect(done)
        let parked = try await DeadLetterQueue(connection: fixture.connection, topology: fixture.topology).peek(ParkedFilter(), limit: 5)
        #expect(parked.count == 1)
        #expect(parked.first?.reason == reason)
        #expect(parked.first?.attempt == 1)
        #expect(parked.first?.routingKey == "tenant.acme")
        #expect(parked.first?.delivery.body == Array(body.utf8))
        #expect(store.attempts.withLock { $0.keys.sorted() } == ["good"])
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("peek shows matching messages and leaves the DLQ exactly as it was: same count, same order")
    func peekIsNonDestructive() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        let order = (0..<30).map { "p-\($0)" }
        for (index, logID) in order.enumerated() {
            try await Self.park(Self.record(index % 3 == 0 ? "beta" : "alpha", logID), reason: index % 2 == 0 ? "undecodable" : "store_unavailable", fixture)
        }
        let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
        let shown = try await dlq.peek(ParkedFilter(tenant: "beta", reason: "undecodable"), limit: 3)
        #expect(shown.map(\.logID) == ["p-0", "p-6", "p-12"])
        #expect(shown.map(\.position) == [1, 7, 13])
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 30)
        let again = try await dlq.peek(ParkedFilter(), limit: 100)
        #expect(again.map { $0.logID ?? "?" } == order)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 30)
        let stats = try await dlq.stats()
        #expect(stats.total == 30 && stats.unseen == 0)
        #expect(stats.byTenant == ["alpha": 20, "beta": 10])
        #expect(stats.byReason == ["undecodable": 15, "store_unavailable": 15])
        #expect(stats.oldestAgeSeconds != nil)
        #expect(try await fixture.drain(fixture.topology.deadLetterQueue).map { $0.properties.messageID ?? "?" } == order)
        await fixture.tearDown()
    }

    @Test("replay with filters sends only matching messages back, with their routing key and log_id and no bookkeeping; the rest stay in order")
    func filteredReplay() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        let tenants = ["alpha", "beta", "alpha", "gamma", "alpha", "beta"]
        for (index, tenant) in tenants.enumerated() { try await Self.park(Self.record(tenant, "r-\(index)"), reason: "store_unavailable", fixture) }
        let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)

        let dry = try await dlq.replay(ParkedFilter(tenant: "alpha"), limit: .max, dryRun: true)
        #expect(dry.matched == ["r-0", "r-2", "r-4"] && dry.replayed == 0)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 6)
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 0)

        let limited = try await dlq.replay(ParkedFilter(tenant: "alpha"), limit: 2, dryRun: false)
        #expect(limited.replayed == 2)
        let replayed = try await fixture.drain(fixture.topology.workQueue)
        #expect(replayed.map(\.properties.messageID) == ["r-0", "r-2"])
        for message in replayed {
            #expect(message.routingKey == "tenant.alpha")
            #expect(message.exchange == fixture.topology.ingestExchange)
            #expect(message.properties.headers[MessageHeader.attempt] == nil)
            #expect(message.properties.headers[MessageHeader.error] == nil)
            #expect(message.properties.headers[MessageHeader.tenant] == .string("alpha"))
            #expect(message.properties.deliveryMode == 2)
        }
        #expect(try await Self.ids(in: fixture.topology.deadLetterQueue, fixture) == ["r-1", "r-3", "r-4", "r-5"])

        let purgedNothing = try await dlq.purge(ParkedFilter(tenant: "nobody"))
        #expect(purgedNothing == 0)
        let purged = try await dlq.purge(ParkedFilter(tenant: "beta"))
        #expect(purged == 2)
        #expect(try await Self.ids(in: fixture.topology.deadLetterQueue, fixture) == ["r-3", "r-4"])
        await fixture.tearDown()
    }

    @Test("purge and replay that take the last message of the scan settle without a channel error (the connection is not restarted)")
    func lastMessageTaken() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        for (index, tenant) in ["alpha", "beta", "alpha", "beta"].enumerated() {
            try await Self.park(Self.record(tenant, "l-\(index)"), reason: "store_unavailable", fixture)
        }
        let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
        let connects = fixture.connection.connects
        #expect(try await dlq.purge(ParkedFilter(tenant: "beta")) == 2)
        #expect(try await dlq.replay(ParkedFilter(tenant: "alpha"), limit: .max, dryRun: false).replayed == 2)
        // Round trips on the same connection: a channel error from the final reject would have arrived first.
        for _ in 0..<3 { _ = try await fixture.readyCount(fixture.topology.deadLetterQueue) }
        #expect(fixture.connection.connects == connects && fixture.connection.isConnected)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 2)
        await fixture.tearDown()
    }

    @Test("a scan holds at most its limit of messages: stats of a larger DLQ counts the rest as unseen and changes nothing")
    func boundedScan() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        for index in 0..<12 { try await Self.park(Self.record("alpha", "b-\(index)"), reason: "undecodable", fixture) }
        var dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
        dlq.scanLimit = 5
        let stats = try await dlq.stats()
        #expect(stats.total == 5 && stats.unseen == 7)
        #expect(try await dlq.purge(ParkedFilter()) == 5)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 7)
        await fixture.tearDown()
    }

    @Test("a worker whose connection dies between the retry copy and the ack causes a duplicate delivery, never a loss; the store holds one document")
    func crashBetweenCopyAndAck() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        let store = SwitchableStore(try Self.temporaryStore(), failing: true)
        let doomed = AMQPConnection(
            configuration: try fixture.configuration.amqpConfiguration(connectionName: "logpipe-test-doomed"),
            topology: fixture.topology.declarations, logger: TestEnvironment.logger)
        let crashed = Mutex(false)
        let first = try await RunningWorker.start(
            fixture, store: store, policy: Self.policy,
            afterMovingBeforeAck: {
                // The copy is confirmed in the retry queue; the worker dies before it acks the original.
                crashed.withLock { $0 = true }
                await doomed.close()
            }, connection: doomed)
        try await Self.publish(Self.record("acme", "c-1"), fixture)
        let didCrash = try await eventually { crashed.withLock { $0 } }
        #expect(didCrash)
        _ = await first.task.result

        // The original is back in the work queue and the copy waits in the first tier.
        store.failing.withLock { $0 = false }
        let second = try await RunningWorker.start(fixture, store: store, policy: Self.policy)
        let bothDelivered = try await eventually(timeout: .seconds(10)) { store.writes.withLock { $0["c-1"] } == 2 }
        #expect(bothDelivered)
        #expect(try await store.count(tenant: TenantID("acme")!) == 1)
        let drained = try await eventually {
            var total: UInt32 = try await fixture.readyCount(fixture.topology.workQueue)
            for queue in fixture.topology.retryQueues { total += try await fixture.readyCount(queue) }
            return total == 0
        }
        #expect(drained)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
        await second.stop()
        await fixture.tearDown()
    }

    @Test("logpipe dlq: stats --json counts, peek --json redacts the text, purge refuses without --yes (exit 2) and removes with it")
    func command() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        for index in 0..<4 { try await Self.park(Self.record(index < 3 ? "alpha" : "beta", "d-\(index)"), reason: "store_unavailable", fixture) }
        let arguments = ["--amqp-url", fixture.configuration.amqp.url, "--namespace", fixture.topology.namespace]
        let environment = ["LOGPIPE_RETRY_DELAYS": "300ms,900ms"]

        let stats = try await CommandRun.run(["dlq", "stats", "--json"] + arguments, environment: environment)
        #expect(stats.status == 0)
        let decoded = try JSONDecoder().decode(DeadLetterQueue.Stats.self, from: Data(stats.output.utf8))
        #expect(decoded.total == 4 && decoded.byTenant == ["alpha": 3, "beta": 1])

        let peek = try await CommandRun.run(["dlq", "peek", "--json", "--tenant", "beta"] + arguments, environment: environment)
        #expect(peek.status == 0)
        #expect(peek.output.contains(#""log_id":"d-3""#))
        #expect(peek.output.contains("[REDACTED:EMAIL]") && !peek.output.contains("bob@example.com"))

        let refused = try await CommandRun.run(["dlq", "purge", "--tenant", "alpha"] + arguments, environment: environment)
        #expect(refused.status == 2)
        #expect(refused.errors.contains("--yes"))
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 4)

        let purge = try await CommandRun.run(["dlq", "purge", "--tenant", "alpha", "--yes"] + arguments, environment: environment)
        #expect(purge.status == 0 && purge.output.contains("purged 3"))
        #expect(try await Self.ids(in: fixture.topology.deadLetterQueue, fixture) == ["d-3"])

        let unreachable = try await CommandRun.run(["dlq", "stats", "--amqp-url", "amqp://guest:guest@127.0.0.1:1/"], environment: environment)
        #expect(unreachable.status == 1)
        #expect(unreachable.errors.contains("cannot reach the broker"))
        await fixture.tearDown()
    }
}

/// Runs `logpipe <arguments>` to completion and returns its exit status, standard output and standard error.
enum CommandRun {
    static func run(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String, errors: String) {
        let path = "/tmp/logpipe-dlq-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: "/tmp/logpipe-dlq-tests", withIntermediateDirectories: true)
        let process = try WorkerProcess(arguments, environment: environment, logPath: path + ".out", errorPath: path + ".err")
        let status = await process.wait()
        return (
            status, (try? String(contentsOfFile: path + ".out", encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: path + ".err", encoding: .utf8)) ?? ""
        )
    }
}
