import AMQPBridge
import Foundation
import LogPipeCore
import MongoBridge
import TestSupport
import Testing

@testable import LogPipeApp

/// Faults from the MongoDB server itself, injected with `configureFailPoint` `failCommand` on SecantusDB (an
/// independent MongoDB-wire-protocol server, not MongoDB), each through the real worker, broker and libmongoc: what
/// logpipe does (retry through the tiers, park, ack) and that every log ends stored exactly once.
@Suite(
    "MongoDB faults from the server (failCommand on SecantusDB, an independent MongoDB-wire-protocol server, not MongoDB)", .serialized, .timeLimit(.minutes(3))
)
struct MongoServerFaultTests {
    static let acme = TenantID("acme")!
    static let policy = RetryPolicy(delays: [.milliseconds(200), .milliseconds(400)], maxAttempts: 20)

    /// What one run through the pipeline ended with.
    struct Outcome {
        var storedIDs: [String]
        var parked: [ParkedMessage]
        var metrics: String
        func deliveries(_ outcome: String) -> Int {
            Int(MetricsTests.value(metrics, #"logpipe_worker_deliveries_total{outcome="\#(outcome)"}"#) ?? 0)
        }
    }

    /// Publishes `count` logs (`<prefix>-0 …`) for acme while a worker stores them into a MongoDB store on the
    /// failpoint's client, after `arm` has armed it; waits until every log is stored or parked and the work and
    /// retry queues are empty.
    func run(
        _ failCommand: FailCommand, count: Int = 30, prefix: String = "f", uriOptions: [String: String] = [:],
        policy: RetryPolicy = policy, batchSize: Int = 20, database: String? = nil,
        arm: (MongoLogStore) async throws -> Void
    ) async throws -> Outcome {
        let store = try MongoLogStore(uri: failCommand.uri(uriOptions), database: database ?? "f\(UInt32.random(in: 0...UInt32.max))")
        try await arm(store)
        let fixture = try await BrokerFixture.start(retryPolicy: policy)
        let metrics = LogPipeMetrics()
        let worker = try await RunningWorker.start(fixture, store: store, policy: policy, batchSize: batchSize, metrics: metrics)
        do {
            try await fixture.publishLogs(count, tenant: "acme", prefix: prefix)
            let settled = try await eventually(timeout: .seconds(90), every: .milliseconds(200)) {
                let text = metrics.exposition()
                let settled = ["stored", "duplicate", "parked"].reduce(0) { total, outcome in
                    total + Int(MetricsTests.value(text, #"logpipe_worker_deliveries_total{outcome="\#(outcome)"}"#) ?? 0)
                }
                guard settled >= count else { return false }
                for queue in fixture.topology.workQueues + fixture.topology.retryQueues where try await fixture.readyCount(queue) != 0 {
                    return false
                }
                return true
            }
            #expect(settled, "not every log was stored or parked in time")
            let parked = try await DeadLetterQueue(connection: fixture.connection, topology: fixture.topology).peek(ParkedFilter(), limit: 1000)
            let stored = try await store.find(tenant: Self.acme, LogQuery(limit: 10_000)).map(\.logID)
            let outcome = Outcome(storedIDs: stored, parked: parked, metrics: metrics.exposition())
            await worker.stop()
            await fixture.tearDown()
            return outcome
        } catch {
            await worker.stop()
            await fixture.tearDown()
            throw error
        }
    }

    func ids(_ prefix: String, _ count: Int) -> Set<String> { Set((0..<count).map { "\(prefix)-\($0)" }) }

    func log(_ id: String, level: String = "info") -> StoredLog {
        StoredLog(
            logID: id, tenantID: Self.acme, text: "probe \(id)", redactions: [:], receivedAt: "2026-12-01T10:00:00.000Z",
            processedAt: "2026-12-01T10:00:01.000Z", requestID: "r-\(id)", fields: LogFields(level: level))
    }

    static let retryableLabel = BSONField("errorLabels", .array([.string("RetryableWriteError")]))

    // MARK: - Step-downs and retryable errors

    @Test(
        "a primary stepping down (91 ShutdownInProgress, 189 PrimarySteppedDown, 10107 NotWritablePrimary, 11602 InterruptedDueToReplStateChange, with the RetryableWriteError label): store_not_primary, retried through the tiers, every log stored once, none parked",
        arguments: [91, 189, 10107, 11602])
    func primaryChange(_ code: Int) async throws {
        try await FailCommand.exclusive { failCommand in
            let outcome = try await run(failCommand) { store in
                // libmongoc retries a retryable write once by itself: two failures reach logpipe as one.
                try failCommand.arm(FailCommand.times(2), [BSONField("errorCode", .int32(Int32(code))), Self.retryableLabel])
                do throws(StoreError) {
                    _ = try await store.write([log("direct")])
                    Issue.record("the injected \(code) did not fail the write")
                } catch {
                    #expect(error.transient && error.reason == "store_not_primary", "\(error)")
                }
                try failCommand.arm(FailCommand.times(4), [BSONField("errorCode", .int32(Int32(code))), Self.retryableLabel])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 30) && outcome.storedIDs.count == 30, "\(outcome)")
            #expect(outcome.deliveries("retried") >= 1, "the failures went through the retry tiers")
            #expect(outcome.parked.isEmpty)
        }
    }

    @Test("one retryable failure is absorbed by libmongoc's own retry of the write (retryWrites): stored at once, nothing retried by logpipe")
    func driverRetriesOnce() async throws {
        try await FailCommand.exclusive { failCommand in
            let store = try MongoLogStore(uri: failCommand.uri(), database: "f\(UInt32.random(in: 0...UInt32.max))")
            _ = try await store.write([log("warm-up")])
            try failCommand.arm(FailCommand.times(1), [BSONField("errorCode", .int32(189)), Self.retryableLabel])
            #expect(try await store.write([log("a"), log("b")]) == StoreWriteResult(stored: 2, duplicates: 0))
            #expect(try await store.count(tenant: Self.acme) == 3)
        }
    }

    @Test("an error with only the RetryableWriteError label (262 ExceededTimeLimit) is transient too: retried, every log stored once")
    func retryableLabelAlone() async throws {
        try await FailCommand.exclusive { failCommand in
            let outcome = try await run(failCommand) { _ in
                try failCommand.arm(FailCommand.times(4), [BSONField("errorCode", .int32(262)), Self.retryableLabel])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 30) && outcome.storedIDs.count == 30, "\(outcome)")
            #expect(outcome.deliveries("retried") >= 1)
            #expect(outcome.parked.isEmpty)
        }
    }

    @Test("a server that keeps refusing as not primary: each log is parked after the last attempt with store_not_primary, and a replay stores each once")
    func stepDownOutlastsTheTiers() async throws {
        try await FailCommand.exclusive { failCommand in
            let policy = RetryPolicy(delays: [.milliseconds(100), .milliseconds(200)], maxAttempts: 3)
            let store = try MongoLogStore(uri: failCommand.uri(), database: "f\(UInt32.random(in: 0...UInt32.max))")
            try failCommand.arm(.string("alwaysOn"), [BSONField("errorCode", .int32(10107)), Self.retryableLabel])
            let fixture = try await BrokerFixture.start(retryPolicy: policy)
            let worker = try await RunningWorker.start(fixture, store: store, policy: policy)
            try await fixture.publishLogs(10, tenant: "acme", prefix: "p")
            let parked = try await eventually { try await fixture.readyCount(fixture.topology.deadLetterQueue) == 10 }
            #expect(parked)
            let dlq = DeadLetterQueue(connection: fixture.connection, topology: fixture.topology)
            let messages = try await dlq.peek(ParkedFilter(), limit: 100)
            #expect(Set(messages.compactMap(\.logID)) == ids("p", 10))
            #expect(messages.allSatisfy { $0.reason == "store_not_primary" && $0.attempt == 3 })
            #expect(try await store.count(tenant: Self.acme) == 0)

            try failCommand.off()
            let report = try await dlq.replay(ParkedFilter(), limit: .max, dryRun: false)
            #expect(report.replayed == 10 && report.failed == 0)
            let stored = try await eventually { try await store.count(tenant: Self.acme) == 10 }
            #expect(stored)
            #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
            await worker.stop()
            await fixture.tearDown()
        }
    }

    // MARK: - Connections

    @Test("the server closing the connection on inserts: unreachable, transient, retried; every log stored once")
    func closeConnection() async throws {
        try await FailCommand.exclusive { failCommand in
            let outcome = try await run(failCommand) { store in
                try failCommand.arm(FailCommand.times(2), [BSONField("closeConnection", .bool(true))])
                do throws(StoreError) {
                    _ = try await store.write([log("direct")])
                    Issue.record("a closed connection did not fail the write")
                } catch {
                    #expect(error.transient && error.reason == "store_unavailable", "\(error)")
                    #expect(error.message.contains("unreachable"), "\(error)")
                }
                try failCommand.arm(FailCommand.times(4), [BSONField("closeConnection", .bool(true))])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 30) && outcome.storedIDs.count == 30, "\(outcome)")
            #expect(outcome.deliveries("retried") >= 1)
            #expect(outcome.parked.isEmpty)
        }
    }

    @Test(
        "a write slower than the socket timeout (blockConnection 1.5 s, socketTimeoutMS 500): the client gives up, the server stores it anyway, the retry finds duplicates, every log stored once"
    )
    func writeSlowerThanSocketTimeout() async throws {
        try await FailCommand.exclusive { failCommand in
            // The retry tier waits longer than the block, so the retried write comes after the blocked one landed.
            let policy = RetryPolicy(delays: [.seconds(3)], maxAttempts: 20)
            let outcome = try await run(failCommand, count: 10, uriOptions: ["socketTimeoutMS": "500"], policy: policy, batchSize: 50) { store in
                _ = try await store.write([log("warm-up")])
                try failCommand.arm(FailCommand.times(2), [BSONField("blockConnection", .bool(true)), BSONField("blockTimeMS", .int32(1500))])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 10).union(["warm-up"]) && outcome.storedIDs.count == 11)
            #expect(outcome.deliveries("retried") >= 1)
            #expect(outcome.deliveries("duplicate") >= 1, "the write the client timed out on was stored by the server")
            #expect(outcome.deliveries("stored") + outcome.deliveries("duplicate") >= 10)
            #expect(outcome.parked.isEmpty)
        }
    }

    // MARK: - Write concern

    @Test(
        "a write concern error (64 WriteConcernFailed) on writes that did go in: transient, retried through the tiers, the retry counts duplicates, every log stored once"
    )
    func writeConcernError() async throws {
        try await FailCommand.exclusive { failCommand in
            let concern = BSONField(
                "writeConcernError", .document([BSONField("code", .int32(64)), BSONField("errmsg", .string("waiting for replication timed out"))]))
            let outcome = try await run(failCommand) { store in
                try failCommand.arm(FailCommand.times(1), [concern])
                do throws(StoreError) {
                    _ = try await store.write([log("direct")])
                    Issue.record("a write concern error was taken for success")
                } catch {
                    #expect(error.transient && error.reason == "store_unavailable", "\(error)")
                }
                #expect(try await store.get(tenant: Self.acme, logID: "direct") != nil, "the write itself went in")
                try failCommand.arm(FailCommand.times(3), [concern])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 30).union(["direct"]) && outcome.storedIDs.count == 31, "\(outcome)")
            #expect(outcome.deliveries("retried") >= 1)
            #expect(outcome.deliveries("duplicate") >= 1)
            #expect(outcome.parked.isEmpty)
        }
    }

    @Test(
        "a write concern error with the RetryableWriteError label (91 ShutdownInProgress) is retried by libmongoc itself and the write then succeeds: stored once, nothing retried by logpipe"
    )
    func retryableWriteConcernError() async throws {
        try await FailCommand.exclusive { failCommand in
            let concern = BSONField(
                "writeConcernError",
                .document([BSONField("code", .int32(91)), BSONField("errmsg", .string("shutting down")), Self.retryableLabel]))
            let outcome = try await run(failCommand) { store in
                try failCommand.arm(FailCommand.times(2), [concern])
                #expect(try await store.write([log("direct")]) == StoreWriteResult(stored: 1, duplicates: 0))
                try failCommand.arm(FailCommand.times(4), [concern])
            }
            #expect(Set(outcome.storedIDs) == ids("f", 30).union(["direct"]) && outcome.storedIDs.count == 31, "\(outcome)")
            #expect(outcome.deliveries("retried") == 0)
            #expect(outcome.parked.isEmpty)
        }
    }

    // MARK: - Duplicate keys among other write errors

    /// A collection whose validator refuses the level `fatal` (121 DocumentValidationFailure): a document error
    /// of the server's own, beside E11000.
    func validatedCollection(_ store: MongoLogStore) throws {
        _ = try store.pool.command(
            database: store.database,
            [
                BSONField("create", .string("acme")),
                BSONField(
                    "validator",
                    .document([
                        BSONField("level", .document([BSONField("$ne", .string("fatal"))]))
                    ])),
            ])
    }

    @Test(
        "E11000 inside a bulk write beside another document's error (121 DocumentValidationFailure), in either order: the refused log alone is store_rejected, the duplicates count as stored, the rest is stored; no document text in the error"
    )
    func duplicatesBesideAnotherWriteError() async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "f\(UInt32.random(in: 0...UInt32.max))")
        try validatedCollection(store)
        _ = try await store.write([log("dup-1"), log("dup-2")])
        for batch in [
            [log("bad-1", level: "fatal"), log("dup-1"), log("new-1")],  // the document error first
            [log("dup-2"), log("new-2"), log("bad-2", level: "fatal")],  // the duplicate first
        ] {
            do {
                _ = try await store.write(batch)
                Issue.record("a document the server refuses was taken for stored")
            } catch {
                #expect(!error.transient && error.reason == "store_rejected", "\(error)")
                #expect(!error.message.contains("dup-") && !error.message.contains("probe"), "\(error.message)")
            }
        }
        #expect(try await store.get(tenant: Self.acme, logID: "new-1") != nil)
        #expect(try await store.get(tenant: Self.acme, logID: "new-2") != nil)
        #expect(try await store.count(tenant: Self.acme) == 4)
    }

    @Test(
        "through the worker: a batch with duplicates, a log the server refuses and new logs parks the refused one on first sight (store_rejected) and stores or acks the others once"
    )
    func mixedBatchThroughTheWorker() async throws {
        let database = "f\(UInt32.random(in: 0...UInt32.max))"
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: database)
        try validatedCollection(store)
        _ = try await store.write((0..<5).map { log("m-\($0)") })
        let fixture = try await BrokerFixture.start(retryPolicy: Self.policy)
        let metrics = LogPipeMetrics()
        let worker = try await RunningWorker.start(fixture, store: store, policy: Self.policy, batchSize: 50, metrics: metrics)
        // One chunk message holding duplicates (m-0…m-4), new logs (m-5…m-9) and a refused one, as the API batches.
        let records = (0..<10).map { index in
            LogRecord(
                tenantID: Self.acme, logID: "m-\(index)", text: "line \(index)", receivedAt: "2026-12-01T10:00:00.000Z",
                requestID: "r", fields: LogFields(level: "info"))
        }
        let refused = LogRecord(
            tenantID: Self.acme, logID: "m-bad", text: "refused", receivedAt: "2026-12-01T10:00:00.000Z", requestID: "r", fields: LogFields(level: "fatal"))
        for record in [refused] + records {
            try await fixture.connection.publish(
                exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme", body: Array(try JSONEncoder().encode(record)),
                properties: AMQPProperties(
                    contentType: "application/json", deliveryMode: 2, messageID: record.logID, headers: [MessageHeader.tenant: .string("acme")]))
        }
        let parked = try await eventually { try await fixture.readyCount(fixture.topology.deadLetterQueue) == 1 }
        #expect(parked)
        let stored = try await eventually { try await store.count(tenant: Self.acme) == 10 }
        #expect(stored)
        let messages = try await DeadLetterQueue(connection: fixture.connection, topology: fixture.topology).peek(ParkedFilter(), limit: 10)
        #expect(messages.map(\.logID) == ["m-bad"])
        #expect(messages.first?.reason == "store_rejected" && messages.first?.attempt == 1, "parked on first sight")
        for queue in fixture.topology.workQueues + fixture.topology.retryQueues { #expect(try await fixture.readyCount(queue) == 0) }
        let text = metrics.exposition()
        #expect(MetricsTests.value(text, #"logpipe_worker_deliveries_total{outcome="retried"}"#) == nil)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("E11000 and a write concern error in one reply: the write concern error wins (transient), and the retry counts every log as a duplicate")
    func duplicatesWithWriteConcernError() async throws {
        try await FailCommand.exclusive { failCommand in
            let store = try MongoLogStore(uri: failCommand.uri(), database: "f\(UInt32.random(in: 0...UInt32.max))")
            _ = try await store.write([log("w-1")])
            try failCommand.arm(
                FailCommand.times(1), [BSONField("writeConcernError", .document([BSONField("code", .int32(64)), BSONField("errmsg", .string("timed out"))]))])
            do throws(StoreError) {
                _ = try await store.write([log("w-1"), log("w-2")])
                Issue.record("a write concern error beside a duplicate key was taken for success")
            } catch {
                #expect(error.transient, "\(error)")
            }
            #expect(try await store.write([log("w-1"), log("w-2")]) == StoreWriteResult(stored: 0, duplicates: 2))
        }
    }
}
