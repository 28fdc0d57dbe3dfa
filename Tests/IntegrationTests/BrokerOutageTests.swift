import AMQPBridge
import Foundation
import Glibc
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeApp
import TestSupport
import Testing

/// The API while its broker crashes and comes back, on a node of the test's own.
@Suite("Broker outage", .timeLimit(.minutes(3)))
struct BrokerOutageTests {
    @Test("with the broker gone, or blocking publishers under a resource alarm, the API answers 503 and readiness 503; it recovers by itself")
    func outageAndRecovery() async throws {
        let port = Int(ProcessInfo.processInfo.environment["LOGPIPE_TEST_OUTAGE_PORT"] ?? "") ?? 5712
        let broker = PrivateBroker(name: "outage-test", port: port)
        try? await broker.wipe()
        try await broker.start()
        do {
            try await exercise(broker)
        } catch {
            try? await broker.wipe()
            throw error
        }
        try await broker.wipe()
    }

    func post(_ client: some TestClientProtocol, _ text: String) async throws -> (status: Int, code: String?, retryAfter: String?) {
        try await client.execute(
            uri: "/ingest", method: .post, headers: [.contentType: "text/plain", tenantHeader: "acme"],
            body: ByteBuffer(string: text)
        ) { response in
            let body = try jsonObject(response.body.readableBytesView)
            return (Int(response.status.code), (body["error"] as? [String: Any])?["code"] as? String, response.headers[.retryAfter])
        }
    }

    func readiness(_ client: some TestClientProtocol) async throws -> Int {
        try await client.execute(uri: "/readiness", method: .get) { Int($0.status.code) }
    }

    func exercise(_ broker: PrivateBroker) async throws {
        var configuration = LogPipeConfiguration()
        configuration.amqp.url = broker.url
        configuration.amqp.namespace = TestEnvironment.uniqueNamespace("outage")
        configuration.amqp.confirmTimeout = .seconds(2)
        let topology = Topology(namespace: configuration.amqp.namespace)
        var amqp = try configuration.amqpConfiguration(connectionName: "logpipe-outage-test")
        amqp.heartbeatSeconds = 2
        let connection = AMQPConnection(configuration: amqp, topology: topology.declarations, logger: TestEnvironment.logger)
        connection.start()
        try await connection.waitUntilConnected(timeout: .seconds(15))
        let app = Application(
            router: IngestAPI(
                publisher: AMQPLogPublisher(connection: connection, topology: topology),
                configuration: configuration
            ).router())
        try await app.test(.router) { client in
            #expect(try await post(client, "before the crash").status == 202)
            #expect(try await readiness(client) == 200)

            try await broker.kill()
            let notReady = try await eventually(timeout: .seconds(10)) { try await readiness(client) == 503 }
            #expect(notReady)
            let during = try await post(client, "during the outage")
            #expect(during.status == 503)
            #expect(during.code == "broker_unavailable")
            #expect(during.retryAfter == "1")

            try await broker.start()
            let backAt = ContinuousClock.now
            let recovered = try await eventually(timeout: .seconds(10), every: .milliseconds(100)) {
                try await post(client, "after the restart").status == 202
            }
            #expect(recovered, "the API did not recover within 10 s of the broker being ready")
            #expect(ContinuousClock.now - backAt < .seconds(10))
            #expect(try await readiness(client) == 200)

            // A resource alarm: the broker blocks publishers (connection.blocked); the API answers 503 at
            // once instead of hanging, and takes logs again when the alarm clears.
            // RabbitMQ blocks a connection when it publishes during the alarm: that first publish is answered
            // as soon as connection.blocked arrives (not at the 2 s confirm timeout), the next ones at once.
            try await broker.ctl("set_vm_memory_high_watermark 0")
            let started = ContinuousClock.now
            let refused = try await post(client, "while blocked")
            #expect(refused.status == 503 && refused.code == "broker_blocked")
            #expect(ContinuousClock.now - started < .seconds(1))
            #expect(connection.isBlocked)
            let again = try await post(client, "still blocked")
            #expect(again.status == 503 && again.code == "broker_blocked")
            #expect(try await readiness(client) == 503)
            try await broker.ctl("set_vm_memory_high_watermark 0.4")
            let unblocked = try await eventually(timeout: .seconds(10)) {
                try await post(client, "after the alarm").status == 202
            }
            #expect(unblocked)
        }
        // A 202 means the broker had the message on disk: it survived the crash.
        var texts: [String] = []
        while let delivery = try await connection.get(topology.workQueue) {
            texts.append(String(describing: try jsonObject(delivery.body)["text"] ?? ""))
            try await connection.ack(delivery.receipt)
        }
        await connection.close()
        #expect(texts.first == "before the crash")
        #expect(texts.contains("after the restart"))
        #expect(!texts.contains("during the outage"))
        // "while blocked" may or may not be there (unconfirmed: at least once); "still blocked" was never sent.
        #expect(!texts.contains("still blocked") && texts.contains("after the alarm"))
    }
}

/// A broker that stops reading (its VM stopped with SIGSTOP) while publishes are being written: rabbitmq-c's
/// socket write has no timeout of its own, and the connection thread blocked in it used to keep every request
/// waiting past the confirm timeout, for as long as the broker stayed stopped.
@Suite("Broker that stops reading", .timeLimit(.minutes(2)))
struct StalledBrokerTests {
    @Test("every publish gets its answer within the confirm timeout plus a second, although the write blocks")
    func blockedWriteAnswered() async throws {
        let port = Int(ProcessInfo.processInfo.environment["LOGPIPE_TEST_STALL_PORT"] ?? "") ?? 5722
        let broker = PrivateBroker(name: "stall-test", port: port)
        try? await broker.wipe()
        try await broker.start()
        let pidText = try String(contentsOfFile: "/tmp/logpipe-broker-stall-test/rabbitmq.pid", encoding: .utf8)
        let pid = try #require(pid_t(pidText.trimmingCharacters(in: .whitespacesAndNewlines)))
        var configuration = try AMQPConfiguration(url: broker.url)
        configuration.confirmTimeout = .seconds(1)
        configuration.maxReconnectDelay = .milliseconds(500)
        let queue = "stall.q"
        let connection = AMQPConnection(
            configuration: configuration, topology: AMQPTopology(queues: [.init(name: queue)]),
            logger: TestEnvironment.logger)
        connection.start()
        do {
            try await connection.waitUntilConnected(timeout: .seconds(15))
            kill(pid, SIGSTOP)
            // 48 MiB in flight: far more than the socket buffers on both sides hold, so the write blocks.
            let body = [UInt8](repeating: 0x61, count: 1 << 20)
            let outcomes = await withTaskGroup(of: (Duration, Bool).self) { group in
                for index in 0..<48 {
                    group.addTask {
                        let start = ContinuousClock.now
                        let confirmed =
                            (try? await connection.publish(
                                exchange: "", routingKey: queue, body: body,
                                properties: AMQPProperties(deliveryMode: 2, messageID: "s\(index)"))) != nil
                        return (ContinuousClock.now - start, confirmed)
                    }
                }
                return await group.reduce(into: []) { $0.append($1) }
            }
            kill(pid, SIGCONT)
            #expect(outcomes.count == 48)
            #expect(outcomes.allSatisfy { !$0.1 }, "a publish was confirmed by a stopped broker")
            let slowest = outcomes.map(\.0).max() ?? .zero
            // The confirm timeout (1 s) plus a second when the machine is quiet; the bound leaves room for a loaded
            // CI run (2.9 s seen), and still fails the old behaviour, where every answer waited for as long as the
            // broker stayed stopped (here: until after the last answer, so never).
            #expect(slowest < .seconds(10), "slowest answer after \(slowest)")
        } catch {
            kill(pid, SIGCONT)
            await connection.close()
            try? await broker.wipe()
            throw error
        }
        await connection.close()
        try await broker.wipe()
    }
}
