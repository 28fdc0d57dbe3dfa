import AMQPBridge
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import MongoBridge
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// A store that fails its first `failures` writes, then delegates (a store outage that heals).
final class FlakyStore: WrappingStore {
    let inner: any LogStore
    let remainingFailures: Mutex<Int>
    let failedWrites = Mutex(0)

    init(_ inner: any LogStore, failures: Int) {
        self.inner = inner
        self.remainingFailures = Mutex(failures)
    }

    func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        let fail = remainingFailures.withLock { remaining -> Bool in
            guard remaining > 0 else { return false }
            remaining -= 1
            return true
        }
        if fail {
            failedWrites.withLock { $0 += 1 }
            throw StoreError(transient: true, "injected failure")
        }
        return try await inner.write(logs)
    }

}

/// The pipeline in one process: API → real RabbitMQ → worker → SQLite.
@Suite("Worker", .timeLimit(.minutes(3)))
struct WorkerTests {
    static func temporaryStore() throws -> SQLiteLogStore {
        try SQLiteLogStore(path: "/tmp/logpipe-worker-tests/\(UUID().uuidString).sqlite")
    }

    func post(_ client: any TestClientProtocol, _ json: String) async throws -> Int {
        try await client.execute(
            uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
            body: ByteBuffer(string: json)
        ) { Int($0.status.code) }
    }

    @Test("logs of three tenants end up in three tables, redacted, each exactly once, and the queue drains")
    func threeTenants() async throws {
        let store = try Self.temporaryStore()
        try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { fixture, client, _ in
            for index in 0..<30 {
                let tenant = ["alpha", "beta", "gamma"][index % 3]
                #expect(
                    try await post(client, #"{"tenant_id":"\#(tenant)","log_id":"l-\#(index)","text":"user\#(index)@example.com from 10.0.0.\#(index)"}"#)
                        == 202)
            }
            let stored = try await eventually(timeout: .seconds(20)) {
                var total = 0
                for tenant in ["alpha", "beta", "gamma"] { total += try await store.count(tenant: TenantID(tenant)!) }
                return total == 30
            }
            #expect(stored)
            for tenant in ["alpha", "beta", "gamma"] { #expect(try await store.count(tenant: TenantID(tenant)!) == 10) }
            let log = try #require(try await store.get(tenant: TenantID("beta")!, logID: "l-1"))
            #expect(log.text == "[REDACTED:EMAIL] from [REDACTED:IP_ADDRESS]")
            #expect(log.redactions == ["EMAIL": 1, "IP_ADDRESS": 1])
            #expect(try await store.get(tenant: TenantID("alpha")!, logID: "l-1") == nil)
            let drained = try await eventually { try await fixture.readyCount(fixture.topology.workQueue) == 0 }
            #expect(drained)
            #expect(try await store.tenants().map(\.rawValue) == ["alpha", "beta", "gamma"])
        }
    }

    @Test(
        "a log with PII everywhere: source and every attribute value are stored masked and counted, secrets whole; on MongoDB (SecantusDB, an independent MongoDB-wire-protocol server, not MongoDB) with BSON dates",
        arguments: ["sqlite", "mongoOnSecantus"])
    func everyFieldRedacted(_ kind: String) async throws {
        let database = "w\(UInt32.random(in: 0...UInt32.max))"
        let store: any LogStore =
            kind == "sqlite"
            ? try Self.temporaryStore()
            : try MongoLogStore(uri: TestEnvironment.mongoURI, database: database)
        try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { _, client, _ in
            let body = #"""
                {"tenant_id":"acme","log_id":"attr-1","text":"login ok","source":"bob@example.com","level":"info",
                 "timestamp":"2026-12-01T11:00:00+01:00",
                 "attributes":{"user_email":"jane.doe@example.com","client_ip":"10.1.2.3","card":"4111 1111 1111 1111",
                               "password":"hunter2","retries":3,"cached":false,
                               "auth":"Authorization: Bearer abcDEF123456ghiJKL789"}}
                """#
            #expect(try await post(client, body) == 202)
            let stored = try await eventually { try await store.get(tenant: TenantID("acme")!, logID: "attr-1") != nil }
            #expect(stored)
            let log = try #require(try await store.get(tenant: TenantID("acme")!, logID: "attr-1"))
            #expect(log.source == "[REDACTED:EMAIL]")
            #expect(
                log.attributes == [
                    "user_email": .string("[REDACTED:EMAIL]"), "client_ip": .string("[REDACTED:IP_ADDRESS]"),
                    "card": .string("[REDACTED:CREDIT_CARD]"), "password": .string("[REDACTED:SECRET]"), "retries": .int(3),
                    "cached": .bool(false), "auth": .string("Authorization: Bearer [REDACTED:SECRET]"),
                ])
            #expect(log.redactions == ["EMAIL": 2, "IP_ADDRESS": 1, "CREDIT_CARD": 1, "SECRET": 2])
            #expect(log.timestamp == "2026-12-01T10:00:00.000Z", "normalised to UTC milliseconds")
            if let mongo = store as? MongoLogStore {
                let document = try #require(try mongo.pool.find(database: database, collection: "acme", filter: [BSONField("_id", .string("attr-1"))]).first)
                for field in ["received_at", "processed_at", "timestamp"] {
                    guard case .date? = document[field] else { Issue.record("\(field) is not a BSON date: \(String(describing: document[field]))"); continue }
                }
                #expect(try Self.indexNames(mongo, database).contains("received_at_1"))
            }
        }
    }

    static func indexNames(_ store: MongoLogStore, _ database: String) throws -> [String] {
        try store.pool.listIndexes(database: database, collection: "acme").compactMap { if case .string(let name)? = $0["name"] { name } else { nil } }
    }

    @Test("the same log_id posted twice is stored once and the first text wins")
    func duplicateLogID() async throws {
        let store = try Self.temporaryStore()
        try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { _, client, _ in
            #expect(try await post(client, #"{"tenant_id":"acme","log_id":"same","text":"first"}"#) == 202)
            #expect(try await post(client, #"{"tenant_id":"acme","log_id":"same","text":"second"}"#) == 202)
            #expect(try await post(client, #"{"tenant_id":"acme","log_id":"sentinel","text":"after both"}"#) == 202)
            let done = try await eventually { try await store.get(tenant: TenantID("acme")!, logID: "sentinel") != nil }
            #expect(done)
            #expect(try await store.count(tenant: TenantID("acme")!) == 2)
            #expect(try await store.get(tenant: TenantID("acme")!, logID: "same")?.text == "first")
        }
    }

    @Test("a store failure loses nothing: the batch goes through the retry tier and is stored once the store is back")
    func storeFailure() async throws {
        let store = FlakyStore(try Self.temporaryStore(), failures: 3)
        try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { fixture, client, _ in
            for index in 0..<20 {
                #expect(try await post(client, #"{"tenant_id":"acme","log_id":"f-\#(index)","text":"line \#(index)"}"#) == 202)
            }
            let stored = try await eventually(timeout: .seconds(20)) { try await store.count(tenant: TenantID("acme")!) == 20 }
            #expect(stored)
            #expect(store.failedWrites.withLock { $0 } == 3)
            let drained = try await eventually { try await fixture.readyCount(fixture.topology.workQueue) == 0 }
            #expect(drained)
            #expect(try await store.count(tenant: TenantID("acme")!) == 20)
        }
    }

    @Test("an undecodable message is parked in the DLQ on first sight; the logs around it are stored")
    func poisonMessage() async throws {
        let store = try Self.temporaryStore()
        try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { fixture, client, _ in
            #expect(try await post(client, #"{"tenant_id":"acme","log_id":"before","text":"ok"}"#) == 202)
            try await fixture.connection.publish(
                exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
                body: Array("not json".utf8), properties: AMQPProperties(deliveryMode: 2))
            #expect(try await post(client, #"{"tenant_id":"acme","log_id":"after","text":"ok"}"#) == 202)
            let parked = try await eventually { try await fixture.readyCount(fixture.topology.deadLetterQueue) == 1 }
            #expect(parked)
            let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 2 }
            #expect(stored)
        }
    }

    @Test(
        "into MongoDB on SecantusDB (not MongoDB), whose server fails inserts for a while: they retry through the tiers, then each log is stored once"
    )
    func mongoStoreFailure() async throws {
        try await FailCommand.exclusive { failCommand in
            let store = try MongoLogStore(uri: failCommand.uri(), database: "w\(UInt32.random(in: 0...UInt32.max))")
            // Four failures: the driver's own retry of a retryable write takes one of each two, so logpipe sees two.
            try failCommand.arm(FailCommand.times(4), [BSONField("errorCode", .int32(91)), BSONField("errorLabels", .array([.string("RetryableWriteError")]))])
            try await withPipeline(store: store, storeBackoff: .milliseconds(50)) { fixture, client, _ in
                for index in 0..<15 {
                    #expect(try await post(client, #"{"tenant_id":"acme","log_id":"m-\#(index)","text":"call 555-0199 #\#(index)"}"#) == 202)
                }
                let stored = try await eventually(timeout: .seconds(30)) { try await store.count(tenant: TenantID("acme")!) == 15 }
                #expect(stored)
                let drained = try await eventually { try await fixture.readyCount(fixture.topology.workQueue) == 0 }
                #expect(drained)
                #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
                #expect(try await store.get(tenant: TenantID("acme")!, logID: "m-3")?.text == "call [REDACTED:PHONE] #3")
            }
        }
    }
}
