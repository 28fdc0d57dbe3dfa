import AMQPBridge
import Foundation
import LogPipeCore
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// A store that refuses, as `refusal` decides, every write holding certain logs (as SQLite refused
/// `CREATE TABLE "sqlite_x"`), and otherwise delegates.
final class RefusingStore: WrappingStore {
    let inner: any LogStore
    let refusal: @Sendable ([StoredLog]) -> StoreError?
    /// Write calls so far.
    let writes = Mutex(0)

    init(_ inner: any LogStore, refusal: @escaping @Sendable ([StoredLog]) -> StoreError?) {
        self.inner = inner
        self.refusal = refusal
    }

    /// Refuses every write with a log of `tenant`, permanently or as a passing failure.
    convenience init(_ inner: any LogStore, refusingTenant tenant: String, transient: Bool) {
        let refused = TenantID(tenant)!
        self.init(inner) { logs in
            logs.contains { $0.tenantID == refused } ? StoreError(transient: transient, "injected refusal of one tenant") : nil
        }
    }

    /// Refuses every write with the log `logID`, permanently (a document the store will never take).
    convenience init(_ inner: any LogStore, refusingLog logID: String) {
        self.init(inner) { logs in logs.contains { $0.logID == logID } ? StoreError(transient: false, "injected refusal of one log") : nil }
    }

    func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        writes.withLock { $0 += 1 }
        if let error = refusal(logs) { throw error }
        return try await inner.write(logs)
    }
}

/// One tenant's or one log's failure never holds back the rest of a batch; the worker stores a log only
/// under the tenant it was routed for.
@Suite("Worker isolation and tenant checks", .timeLimit(.minutes(3)))
struct WorkerIsolationTests {
    static func body(tenant: String, logID: String, text: String = "hello") -> [UInt8] {
        Array(#"{"v":1,"tenant_id":"\#(tenant)","log_id":"\#(logID)","text":"\#(text)","received_at":"2026-12-01T00:00:00Z","request_id":"r-\#(logID)"}"#.utf8)
    }

    static func batch(tenant: String, logIDs: [String]) -> [UInt8] {
        let items = logIDs.map { #"{"v":1,"tenant_id":"\#(tenant)","log_id":"\#($0)","text":"batch","received_at":"2026-12-01T00:00:00Z","request_id":"r"}"# }
        return Array(#"{"v":1,"batch":[\#(items.joined(separator: ","))]}"#.utf8)
    }

    /// Publishes the messages as the API would (routing key and `x-tenant-id` header), or with `routedAs` /
    /// `header` overriding them, so that all of them sit in the work queue before the worker starts.
    static func publish(
        _ fixture: BrokerFixture, _ body: [UInt8], routedAs tenant: String, header: String? = nil,
        count: Int = 1
    ) async throws {
        var properties = AMQPProperties(deliveryMode: 2)
        properties.headers[MessageHeader.tenant] = .string(header ?? tenant)
        if count > 1 { properties.headers["logpipe-count"] = .int(Int64(count)) }
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: "tenant.\(tenant)",
            body: body, properties: properties)
    }

    static func parkedReasons(_ fixture: BrokerFixture, count: Int) async throws -> [String] {
        let parked = try await eventually { try await fixture.readyCount(fixture.topology.deadLetterQueue) == UInt32(count) }
        #expect(parked, "expected \(count) parked messages")
        return try await fixture.drain(fixture.topology.deadLetterQueue).compactMap { $0.properties.headers[MessageHeader.error]?.stringValue }.sorted()
    }

    @Test("a body naming another tenant than its routing key or x-tenant-id is parked as tenant_mismatch; nothing reaches that tenant")
    func tenantMismatch() async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        try await Self.publish(fixture, Self.body(tenant: "beta", logID: "m-1"), routedAs: "alpha")
        try await Self.publish(fixture, Self.body(tenant: "alpha", logID: "m-2"), routedAs: "alpha", header: "beta")
        try await Self.publish(fixture, Self.batch(tenant: "beta", logIDs: ["m-3", "m-4"]), routedAs: "alpha", count: 2)
        try await Self.publish(fixture, Self.body(tenant: "alpha", logID: "m-ok"), routedAs: "alpha")
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        let reasons = try await Self.parkedReasons(fixture, count: 3)
        #expect(reasons == ["tenant_mismatch", "tenant_mismatch", "tenant_mismatch"])
        let stored = try await eventually { try await store.count(tenant: TenantID("alpha")!) == 1 }
        #expect(stored)
        #expect(try await store.count(tenant: TenantID("beta")!) == 0)
        #expect(try await store.get(tenant: TenantID("alpha")!, logID: "m-2") == nil)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a logpipe-routing-key header on a message published to the exchange is ignored: a publisher allowed tenant.x cannot write into another tenant")
    func forgedRoutingKeyHeader() async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        var properties = AMQPProperties(deliveryMode: 2)
        properties.headers[MessageHeader.tenant] = .string("victim")
        properties.headers[MessageHeader.routingKey] = .string("tenant.victim")
        try await fixture.connection.publish(
            exchange: fixture.topology.ingestExchange, routingKey: "tenant.mallory",
            body: Self.body(tenant: "victim", logID: "forged-1"), properties: properties)
        try await Self.publish(fixture, Self.body(tenant: "mallory", logID: "own-1"), routedAs: "mallory")
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        let parked = try await eventually { try await fixture.readyCount(fixture.topology.deadLetterQueue) == 1 }
        #expect(parked)
        let copy = try #require(try await fixture.drain(fixture.topology.deadLetterQueue).first)
        #expect(copy.properties.headers[MessageHeader.error]?.stringValue == "tenant_mismatch")
        // The parked copy records the routing key the broker delivered, not the forged one: a replay goes back there.
        #expect(copy.properties.headers[MessageHeader.routingKey]?.stringValue == "tenant.mallory")
        #expect(try await eventually { try await store.count(tenant: TenantID("mallory")!) == 1 })
        #expect(try await store.count(tenant: TenantID("victim")!) == 0)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test(
        "a message that breaks the API's rules is parked as invalid_message and stores nothing: bad ids, a huge text, a forged received_at, too many attributes",
        arguments: [
            #"{"v":1,"tenant_id":"acme","log_id":"nul\u0000id","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-1","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"bob@example.com"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-2","text":"t","received_at":"9999-12-31T23:59:59Z","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-3","text":"t","received_at":"yesterday","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-4","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r","timestamp":"soon"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-5","text":"","received_at":"2026-12-01T00:00:00Z","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-6","text":"\#(String(repeating: "x", count: 300_000))","received_at":"2026-12-01T00:00:00Z","request_id":"r"}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-7","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r","attributes":{\#((0..<65).map { #""k\#($0)":1"# }.joined(separator: ","))}}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-8","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r","attributes":{"\#(String(repeating: "k", count: 1000))":1}}"#,
            #"{"v":1,"tenant_id":"acme","log_id":"ok-9","text":"t","received_at":"2026-12-01T00:00:00Z","request_id":"r","level":""}"#,
        ])
    func invalidMessages(_ body: String) async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        try await Self.publish(fixture, Array(body.utf8), routedAs: "acme")
        try await Self.publish(fixture, Self.body(tenant: "acme", logID: "fine-1"), routedAs: "acme")
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        #expect(try await Self.parkedReasons(fixture, count: 1) == ["invalid_message"])
        #expect(try await eventually { try await store.count(tenant: TenantID("acme")!) == 1 })
        #expect(try await store.get(tenant: TenantID("acme")!, logID: "fine-1") != nil)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a reserved tenant (sqlite_x) in a batch is parked as reserved_tenant; the other tenants' logs are stored at once")
    func reservedTenantInBatch() async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        try await Self.publish(fixture, Self.body(tenant: "acme", logID: "a-1"), routedAs: "acme")
        try await Self.publish(fixture, Self.body(tenant: "sqlite_x", logID: "x-1"), routedAs: "sqlite_x")
        try await Self.publish(fixture, Self.body(tenant: "acme", logID: "a-2"), routedAs: "acme")
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        #expect(try await Self.parkedReasons(fixture, count: 1) == ["reserved_tenant"])
        let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 2 }
        #expect(stored)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a tenant the store refuses permanently is parked with the store's reason; the other tenant's logs are stored")
    func oneTenantRefusedPermanently() async throws {
        let fixture = try await BrokerFixture.start()
        let store = RefusingStore(try WorkerTests.temporaryStore(), refusingTenant: "beta", transient: false)
        for index in 0..<6 {
            let tenant = index % 2 == 0 ? "acme" : "beta"
            try await Self.publish(fixture, Self.body(tenant: tenant, logID: "p-\(index)"), routedAs: tenant)
        }
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        #expect(try await Self.parkedReasons(fixture, count: 3) == ["store_rejected", "store_rejected", "store_rejected"])
        let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 3 }
        #expect(stored)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a tenant whose writes fail for a while goes round the retry tiers alone; the other tenant's logs are stored on first delivery")
    func oneTenantTransient() async throws {
        let policy = RetryPolicy(delays: [.seconds(30)], maxAttempts: 5)
        let fixture = try await BrokerFixture.start(retryPolicy: policy)
        let store = RefusingStore(try WorkerTests.temporaryStore(), refusingTenant: "beta", transient: true)
        for index in 0..<6 {
            let tenant = index % 2 == 0 ? "acme" : "beta"
            try await Self.publish(fixture, Self.body(tenant: tenant, logID: "t-\(index)"), routedAs: tenant)
        }
        let worker = try await RunningWorker.start(fixture, store: store, policy: policy)
        let retried = try await eventually { try await fixture.readyCount(fixture.topology.retryQueues[0]) == 3 }
        #expect(retried)
        #expect(try await store.count(tenant: TenantID("acme")!) == 3)
        #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("one log the store refuses is found by splitting: only its message is parked, every other log of the tenant is stored")
    func oneLogRefused() async throws {
        let fixture = try await BrokerFixture.start()
        let store = RefusingStore(try WorkerTests.temporaryStore(), refusingLog: "s-5")
        for index in 0..<12 { try await Self.publish(fixture, Self.body(tenant: "acme", logID: "s-\(index)"), routedAs: "acme") }
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        #expect(try await Self.parkedReasons(fixture, count: 1) == ["store_rejected"])
        let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 11 }
        #expect(stored)
        #expect(try await store.get(tenant: TenantID("acme")!, logID: "s-5") == nil)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a logpipe-count header near Int64.max does not overflow the batch arithmetic; the logs are stored")
    func hugeLogCountHeader() async throws {
        let fixture = try await BrokerFixture.start()
        let store = try WorkerTests.temporaryStore()
        for index in 0..<3 {
            var properties = AMQPProperties(deliveryMode: 2)
            properties.headers[MessageHeader.tenant] = .string("acme")
            properties.headers["logpipe-count"] = .int(Int64.max - Int64(index))
            try await fixture.connection.publish(
                exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
                body: Self.body(tenant: "acme", logID: "c-\(index)"), properties: properties)
        }
        let worker = try await RunningWorker.start(fixture, store: store, policy: fixture.configuration.retryPolicy)
        let stored = try await eventually { try await store.count(tenant: TenantID("acme")!) == 3 }
        #expect(stored)
        await worker.stop()
        await fixture.tearDown()
    }

    @Test("a store outage costs a few writes per batch, not one per tenant: after two tenants fail in a row the rest wait for the retry")
    func outageShortCircuit() async throws {
        let policy = RetryPolicy(delays: [.seconds(30)], maxAttempts: 5)
        let fixture = try await BrokerFixture.start(retryPolicy: policy)
        let store = RefusingStore(try WorkerTests.temporaryStore()) { _ in StoreError(transient: true, "injected outage") }
        let tenants = ["t1", "t2", "t3", "t4", "t5", "t6"]
        for tenant in tenants { try await Self.publish(fixture, Self.body(tenant: tenant, logID: "o-\(tenant)"), routedAs: tenant) }
        let worker = try await RunningWorker.start(fixture, store: store, policy: policy)
        let retried = try await eventually { try await fixture.readyCount(fixture.topology.retryQueues[0]) == 6 }
        #expect(retried)
        // One batch: the whole write, then two tenants. (Two batches at most, 1 + 1 + 3.) One write per tenant was 7.
        #expect(store.writes.withLock { $0 } < 7)
        await worker.stop()
        await fixture.tearDown()
    }
}
