import Foundation
import LogPipeCore
import MongoBridge
import TestSupport
import Testing

@testable import LogPipeApp

/// A one-node replica set stepping down: SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)
/// answers `replSetStepDown` as a one-node mongod set does, as a secondary for the window's length. Elections
/// among several members are not reproduced here (see docs/operations.md); the step-down codes on writes are in
/// `MongoServerFaultTests`.
@Suite("MongoDB replica-set step-down on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)", .timeLimit(.minutes(3)))
struct MongoReplicaSetTests {
    @Test(
        "readiness wants a writable primary: during a replSetStepDown window the store check fails by name, writes fail as store_not_primary, and both recover when the window ends"
    )
    func readinessNeedsPrimary() async throws {
        // A server of its own: a step-down concerns the whole server, and the shared one serves other suites.
        let server = PrivateSecantus(name: "stepdown-test", port: 27870)
        try? await server.wipe()
        try await server.start()
        let uri = try await server.url() + "&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=5000"
        let store = try MongoLogStore(uri: uri, database: "ready")
        let check = ReadinessCheck.store(store)
        #expect(await check.probe() == nil)
        let log = StoredLog(
            record: LogRecord(
                tenantID: TenantID("acme")!, logID: "p-1", text: "x", receivedAt: "2026-12-01T10:00:00.000Z",
                requestID: "r"), redactor: RedactionPolicy().redactor(for: TenantID("acme")!),
            processedAtStamp: "2026-12-01T10:00:00.000Z")

        let admin = try MongoClientPool(uri: try await server.adminURL())
        _ = try await offPool { try admin.command(database: "admin", [BSONField("replSetStepDown", .int32(6)), BSONField("force", .bool(true))]) }
        let detail = await check.probe()
        #expect(detail?.contains("not a writable primary of replica set secantus") == true, "\(detail ?? "ready")")
        do {
            _ = try await store.write([log])
            Issue.record("a write to a stepped-down server succeeded")
        } catch {
            #expect(error.transient && error.reason == "store_not_primary", "\(error)")
        }
        #expect(try await store.count(tenant: TenantID("acme")!) == 0, "reads still work on a secondary")

        let ready = try await eventually(timeout: .seconds(30)) { await check.probe() == nil }
        #expect(ready)
        #expect(try await store.write([log]).stored == 1)
        try await server.wipe()
    }
}
