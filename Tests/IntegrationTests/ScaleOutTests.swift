import AMQPBridge
import Foundation
import Glibc
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

/// Quorum queues, broker URL lists and work shards against the real broker (the test node; a private node
/// for the failover). The three-node cluster tests (kill -9 of a queue leader, rolling restart) are
/// `scripts/cluster-test.sh`.
@Suite("Scale-out: quorum queues, failover, shards", .timeLimit(.minutes(4)))
struct ScaleOutTests {
    @Test("a queue that exists with other arguments: no connection, a clear error that says how to migrate, readiness names the broker")
    func topologyMismatch() async throws {
        let classic = try await BrokerFixture.start()
        var configuration = classic.configuration
        configuration.amqp.queueType = .quorum
        var amqp = try configuration.amqpConfiguration(connectionName: "logpipe-test-mismatch")
        amqp.topologyRetryDelay = .milliseconds(200)
        let connection = AMQPConnection(configuration: amqp, topology: configuration.topology.declarations, logger: TestEnvironment.logger)
        connection.start()
        let error = await #expect(throws: AMQPError.self) { try await connection.waitUntilConnected(timeout: .seconds(5)) }
        #expect(error?.code == .topologyMismatch)
        #expect(error?.reason.contains("PRECONDITION_FAILED - inequivalent arg") == true)
        #expect(error?.reason.contains("rabbitmqctl delete_queue \(classic.topology.workQueue)") == true)
        let publisher = AMQPLogPublisher(connection: connection, topology: configuration.topology)
        #expect(publisher.unreadyReason?.check == "broker")
        #expect(publisher.unreadyReason?.detail.contains("cannot change once it exists") == true)
        // It keeps trying (an operator may migrate meanwhile) and never connects with the wrong topology.
        let retried = try await eventually(timeout: .seconds(30)) { connection.failedConnects >= 4 }
        #expect(retried)
        #expect(connection.connects == 0 && !connection.isConnected)
        await connection.close()
        await classic.tearDown()
    }

    @Test("a URL list: a dead node is skipped, the connection says which node it is on, and /metrics shows it")
    func urlListSkipsDeadNode() async throws {
        let good = try TestEnvironment.amqpURL
        let goodPort = try #require(try AMQPConfiguration(url: good).endpoints.first?.port)
        let url = "amqp://guest:guest@127.0.0.1:1/,\(good)"
        let fixture = try await BrokerFixture.start(url: url)
        #expect(fixture.connection.endpoint?.address == "127.0.0.1:\(goodPort)")
        let metrics = LogPipeMetrics()
        metrics.watch(fixture.connection)
        let text = metrics.exposition()
        #expect(text.contains(#"logpipe_amqp_connected{connection="logpipe-test",node="127.0.0.1:\#(goodPort)"} 1"#))
        #expect(text.contains(#"logpipe_amqp_connected{connection="logpipe-test",node="127.0.0.1:1"} 0"#))
        let check = ReadinessCheck.consumer(fixture.connection)
        #expect(check.node() == "127.0.0.1:\(goodPort)")
        // Each publish counts once on its connection (the benchmark's logs per message).
        #expect(metrics.exposition().contains(#"logpipe_amqp_published_messages{connection="logpipe-test"} 0.0"# + "\n"))
        try await fixture.publishLogs(3, prefix: "counted")
        #expect(metrics.exposition().contains(#"logpipe_amqp_published_messages{connection="logpipe-test"} 3.0"# + "\n"))
        await fixture.tearDown()
    }

    @Test("failover: when its node dies, a connection moves to the next node of the list, declares the topology there and publishes")
    func failoverToNextNode() async throws {
        // The node's Erlang distribution port is the AMQP port + 20,000: kept under the kernel's ephemeral range
        // (from 32,768), where any outgoing connection of the machine may already hold it.
        let first = PrivateBroker(name: "failover-test", port: 12_000 + Int(getpid() % 500))
        try await first.start()
        let second = try TestEnvironment.amqpURL
        let secondPort = try #require(try AMQPConfiguration(url: second).endpoints.first?.port)
        let fixture = try await BrokerFixture.start(url: "\(first.url),\(second)")
        #expect(fixture.connection.endpoint?.port == first.port)
        let consumer = fixture.connection.consume(queue: fixture.topology.workQueue, prefetch: 10)
        try await first.kill()
        let moved = try await eventually(timeout: .seconds(20)) {
            fixture.connection.isConsuming && fixture.connection.endpoint?.port == secondPort
        }
        #expect(moved)
        // The topology was declared on the second node and the subscription resumed there.
        try await fixture.publishLogs(3, prefix: "failover")
        var received: [String] = []
        while received.count < 3, let delivery = await consumer.next(timeout: .seconds(10)) {
            received.append(delivery.properties.messageID ?? "?")
            try await fixture.connection.ack(delivery.receipt)
        }
        #expect(Set(received) == ["failover-0", "failover-1", "failover-2"])
        consumer.cancel()
        await fixture.tearDown()
        try await first.wipe()
    }

    @Test("a quorum work queue parks a message that no worker ever settles (delivery limit) with reason delivery_limit; replay stores it")
    func deliveryLimit() async throws {
        let fixture = try await BrokerFixture.start(queueType: .quorum, deliveryLimit: 2)
        try await fixture.publishLogs(1, prefix: "crasher")
        // A "worker" that takes the message and dies before settling it, three times over.
        for _ in 0..<3 {
            let crashing = try await TestEnvironment.connect(fixture.topology.declarations)
            let consumer = crashing.consume(queue: fixture.topology.workQueue, prefetch: 1)
            #expect(await consumer.next(timeout: .seconds(10)) != nil)
            await crashing.close()
        }
        let parked = try await eventually(timeout: .seconds(10)) {
            try await fixture.readyCount(fixture.topology.deadLetterQueue) == 1
        }
        #expect(parked)
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 0)
        let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
        let messages = try await dlq.peek(ParkedFilter(), limit: 10)
        #expect(messages.map(\.reason) == ["delivery_limit"])
        #expect(messages.map(\.logID) == ["crasher-0"])
        #expect(messages.first?.tenant == "acme" && messages.first?.routingKey == "tenant.acme")

        let store = SwitchableStore(try RetryAndDLQTests.temporaryStore(), failing: false)
        let worker = try await RunningWorker.start(fixture, store: store, policy: RetryPolicy())
        let report = try await dlq.replay(ParkedFilter(reason: "delivery_limit"), limit: .max, dryRun: false)
        #expect(report.replayed == 1)
        let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 1 }
        #expect(stored)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("LOGPIPE_WORK_SHARDS=4: messages of one tenant land on every shard, and two worker processes share them, each log stored once")
    func shardsSharedByTwoWorkers() async throws {
        // Classic queues: sharding is the point here, and quorum queues' fsyncs on the shared test node slow the
        // other suites (the quorum paths are tested above and on the cluster).
        let fixture = try await BrokerFixture.start(workShards: 4)
        // Before any worker: where the hash put 400 logs of one tenant.
        try await fixture.publishLogs(400, prefix: "before")
        var counts: [UInt32] = []
        for queue in fixture.topology.workQueues { counts.append(try await fixture.readyCount(queue)) }
        #expect(counts.reduce(0, +) == 400)
        #expect(counts.allSatisfy { $0 > 40 }, "a shard got almost nothing: \(counts)")

        let directory = "/tmp/logpipe-shard-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var workers: [WorkerProcess] = []
        for index in 0..<2 {
            workers.append(
                try WorkerProcess(
                    ["worker"],
                    environment: [
                        "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
                        "LOGPIPE_WORK_SHARDS": "4", "LOGPIPE_SQLITE_PATH": "\(directory)/\(index).sqlite",
                        "LOGPIPE_PREFETCH": "20", "LOGPIPE_BATCH_SIZE": "20", "LOGPIPE_WORKER_HTTP_PORT": "0", "LOG_LEVEL": "warning",
                    ], logPath: "\(directory)/\(index).log"))
        }
        // Both subscribed to every shard before the bulk of the load arrives.
        let subscribed = try await eventually(timeout: .seconds(30)) {
            for queue in fixture.topology.workQueues where try await fixture.connection.queueStatus(queue).consumerCount != 2 { return false }
            return true
        }
        #expect(subscribed)
        try await fixture.publishLogs(3000, prefix: "after")
        // Wait for the logs in the stores, not for empty queues: a queue with no ready messages can still have
        // deliveries in a worker's hands, and SIGTERM hands those back to the broker unstored.
        let tenant = TenantID("acme")!
        let stores = try (0..<2).map { try SQLiteLogStore(path: "\(directory)/\($0).sqlite") }
        let allStored = try await eventually(timeout: .seconds(60)) {
            try await stores[0].count(tenant: tenant) + stores[1].count(tenant: tenant) >= 3400
        }
        #expect(allStored)
        for worker in workers { worker.signal(SIGTERM) }
        for worker in workers { #expect(await worker.wait() == 0) }
        for queue in fixture.topology.workQueues { #expect(try await fixture.readyCount(queue) == 0, "\(queue) kept messages") }
        var stored: [Set<String>] = []
        for store in stores {
            let logs = try await store.find(tenant: tenant, LogQuery(limit: 10_000))
            stored.append(Set(logs.map(\.logID)))
        }
        #expect(stored.allSatisfy { $0.count > 100 }, "one worker took (almost) everything: \(stored.map(\.count))")
        #expect(stored[0].isDisjoint(with: stored[1]))
        let expected = Set((0..<400).map { "before-\($0)" } + (0..<3000).map { "after-\($0)" })
        let union = stored[0].union(stored[1])
        #expect(union == expected, "missing \(expected.subtracting(union).sorted().prefix(10)), unexpected \(union.subtracting(expected).sorted().prefix(10))")
        await fixture.tearDown()
    }
}
