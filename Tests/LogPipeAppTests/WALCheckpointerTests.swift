import Foundation
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

@Suite("SQLite WAL checkpoints on a connection of their own")
struct WALCheckpointerTests {
    static let tenant = TenantID("acme")!

    /// `count` logs of about 1 KB each, ids unique across calls.
    static func logs(_ count: Int, from start: Int) -> [StoredLog] {
        (start..<(start + count)).map { index in
            StoredLog(
                logID: String(format: "log-%08d", index), tenantID: tenant, text: String(repeating: "x", count: 1_000),
                redactions: [:], receivedAt: "2026-12-02T10:00:00.000Z", processedAt: "2026-12-02T10:00:01.000Z",
                requestID: "req-\(index)", fields: LogFields(timestamp: nil, level: "info", source: nil, attributes: nil))
        }
    }

    static func walBytes(_ path: String) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: path + "-wal"))?[.size] as? Int) ?? 0
    }

    static func path() -> String { "/tmp/logpipe-store-tests/wal-\(UUID().uuidString).sqlite" }

    /// The database and its WAL and shared-memory files (~12 MB a run otherwise left in /tmp).
    static func remove(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }

    @Test("the second connection checkpoints while the writer writes; every log is kept and the WAL stays bounded")
    func background() async throws {
        let path = Self.path()
        defer { Self.remove(path) }
        let store = try SQLiteLogStore(path: path, checkpointPages: (threshold: 50, writerLimit: 1_000))
        // ~30 pages per batch, 100 batches: ~3,000 pages in all, three times the writer's limit.
        for batch in 0..<100 {
            let result = try await store.write(Self.logs(100, from: batch * 100))
            #expect(result.stored == 100)
        }
        #expect(try await eventually { store.checkpointer.backgroundCheckpoints.load(ordering: .relaxed) > 0 })
        #expect(try await store.count(tenant: Self.tenant) == 10_000)
        // With no checkpoint the WAL would hold every page written (~12 MB); it starts over once a checkpoint
        // has copied it all, at the latest when the writer reaches its limit: the limit and one batch at most.
        #expect(Self.walBytes(path) < 1_100 * 4_120, "WAL of \(Self.walBytes(path)) bytes")
    }

    @Test("with the second connection stuck, the writer checkpoints itself at its limit, and the WAL stays bounded")
    func writerFallback() async throws {
        let path = Self.path()
        defer { Self.remove(path) }
        let store = try SQLiteLogStore(path: path, checkpointPages: (threshold: 50, writerLimit: 200))
        store.checkpointer.paused.store(true, ordering: .relaxed)
        for batch in 0..<40 {
            _ = try await store.write(Self.logs(100, from: batch * 100))
        }
        #expect(store.checkpointer.writerCheckpoints.load(ordering: .relaxed) > 0)
        #expect(store.checkpointer.backgroundCheckpoints.load(ordering: .relaxed) == 0)
        #expect(try await store.count(tenant: Self.tenant) == 4_000)
        // At most the limit plus one batch (~30 pages) of 4 KiB frames: not the ~1,000 pages written.
        #expect(Self.walBytes(path) < 300 * 4_120, "WAL of \(Self.walBytes(path)) bytes")
    }

    @Test("every commit is fsynced (synchronous=FULL) on both connections, though GRDB's WAL set-up picks NORMAL")
    func durableCommits() throws {
        let path = Self.path()
        defer { Self.remove(path) }
        let store = try SQLiteLogStore(path: path)
        let modes = try store.synchronousModes()
        #expect(modes.writer == 2)
        #expect(modes.checkpointer == 2)
    }

    @Test("a store reopened after its writer and checkpointer closed has every log")
    func reopened() async throws {
        let path = Self.path()
        defer { Self.remove(path) }
        do {
            let store = try SQLiteLogStore(path: path, checkpointPages: (threshold: 50, writerLimit: 2_000))
            for batch in 0..<10 { _ = try await store.write(Self.logs(100, from: batch * 100)) }
        }
        // The last connection to close copied the WAL into the database file and removed it.
        #expect(try await eventually { !FileManager.default.fileExists(atPath: path + "-wal") })
        let again = try SQLiteLogStore(path: path)
        #expect(try await again.count(tenant: Self.tenant) == 1_000)
        #expect(try await again.write(Self.logs(100, from: 0)).duplicates == 100)
    }
}
