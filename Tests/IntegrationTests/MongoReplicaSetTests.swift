import Foundation
import Glibc
import LogPipeCore
import MongoBridge
import Testing

@testable import LogPipeApp

/// A MongoDB replica set changing its primary, played by the MongoDB wire-protocol test double (not MongoDB):
/// writes refused with the step-down codes are retried and stored once; readiness wants a writable primary.
@Suite("MongoDB replica-set step-down (test double)", .timeLimit(.minutes(3)))
struct MongoReplicaSetTests {
    @Test(
        "writes refused while the primary changes (PrimarySteppedDown, InterruptedDueToReplStateChange, NotWritablePrimary) are retried: every log stored once, none parked",
        arguments: [189, 11602, 10107])
    func stepDownDuringWrites(_ code: Int) async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "rs\(UInt32.random(in: 0...UInt32.max))")
        _ = try store.pool.command(database: store.database, #"{"logpipeDouble": 1, "failWrites": 3, "code": \#(code)}"#)
        // The store names the failure; the worker retries it through the tiers.
        let log = StoredLog(
            record: LogRecord(
                tenantID: TenantID("acme")!, logID: "probe", text: "x", receivedAt: "2026-12-01T10:00:00.000Z",
                requestID: "r"), redactor: RedactionPolicy().redactor(for: TenantID("acme")!),
            processedAtStamp: "2026-12-01T10:00:00.000Z")
        do {
            _ = try await store.write([log])
            Issue.record("the injected step-down did not fail the write")
        } catch {
            #expect(error.transient && error.reason == "store_not_primary")
        }
        try await WorkerTests().withPipeline(store: store) { fixture, client in
            for index in 0..<20 {
                #expect(try await WorkerTests().post(client, #"{"tenant_id":"acme","log_id":"s-\#(index)","text":"line \#(index)"}"#) == 202)
            }
            let stored = try await TestEnvironment.eventually(timeout: .seconds(20)) { try await store.count(tenant: TenantID("acme")!) == 20 }
            #expect(stored)
            let drained = try await TestEnvironment.eventually { try await fixture.readyCount(fixture.topology.workQueue) == 0 }
            #expect(drained)
            #expect(try await fixture.readyCount(fixture.topology.deadLetterQueue) == 0)
        }
        let ids = try await store.find(tenant: TenantID("acme")!, LogQuery(limit: 100)).map(\.logID)
        #expect(ids.count == 20 && Set(ids) == Set((0..<20).map { "s-\($0)" }))
    }

    @Test("readiness wants a writable primary: a stepped-down server fails the store check by name, writes fail transiently, both recover")
    func readinessNeedsPrimary() async throws {
        // A double of its own: a step-down concerns the whole server, and the shared double serves other suites.
        let directory = "/tmp/logpipe-rs-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/mongo_double.py").path
        let double = try WorkerProcess(
            [script, "--port", "0", "--ready-file", "\(directory)/port"], environment: [:],
            logPath: "\(directory)/double.log", executable: "/usr/bin/python3")
        defer { double.signal(SIGKILL) }
        func readPort() -> Int? {
            Int(((try? String(contentsOfFile: "\(directory)/port", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines))
        }
        let started = try await TestEnvironment.eventually(timeout: .seconds(20)) { readPort() != nil }
        #expect(started)
        let port = try #require(readPort())
        let uri = "mongodb://127.0.0.1:\(port)/?directConnection=true&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=5000"
        let store = try MongoLogStore(uri: uri, database: "ready")
        let check = ReadinessCheck.store(store)
        #expect(await check.probe() == nil)

        _ = try store.pool.command(database: "ready", #"{"logpipeDouble": 1, "notPrimary": true}"#)
        let detail = await check.probe()
        #expect(detail?.contains("not a writable primary of replica set rs0") == true, "\(detail ?? "ready")")
        let log = StoredLog(
            record: LogRecord(
                tenantID: TenantID("acme")!, logID: "p-1", text: "x", receivedAt: "2026-12-01T10:00:00.000Z",
                requestID: "r"), redactor: RedactionPolicy().redactor(for: TenantID("acme")!),
            processedAtStamp: "2026-12-01T10:00:00.000Z")
        do {
            _ = try await store.write([log])
            Issue.record("a write to a stepped-down server succeeded")
        } catch {
            #expect(error.transient && error.reason == "store_not_primary")
        }

        _ = try store.pool.command(database: "ready", #"{"logpipeDouble": 1, "notPrimary": false}"#)
        let ready = try await TestEnvironment.eventually(timeout: .seconds(10)) { await check.probe() == nil }
        #expect(ready)
        #expect(try await store.write([log]).stored == 1)
    }
}
