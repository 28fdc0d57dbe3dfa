import GRDB
import GRDBSQLite
import Synchronization

/// Takes SQLite's WAL checkpoints off the write path.
///
/// SQLite checkpoints on the connection that commits: about every 1,000 WAL pages, a commit also copies the
/// pages into the database file and fsyncs it, and the worker's next batch waits for that (a quarter of a
/// batch's write time, measured). Here the writer's commit only hands the checkpoint to a connection of its
/// own, on its own queue, which runs it `PASSIVE` (it never blocks the writer and copies only what no reader
/// still needs) while the writer goes on appending: the other core does the copying. The writer checkpoints
/// itself once the WAL holds `writerLimit` pages, so the WAL stays bounded as with SQLite's own checkpoints (a
/// long read in another process can still hold it up, and a writer's checkpoint that finds the database busy
/// is tried again at the next commit). Under sustained
/// writes that is also how the WAL starts over: SQLite restarts it only when a write transaction begins with
/// every frame copied, and the next batch usually begins while a background checkpoint still copies. The
/// writer's checkpoint then has only the last commits' pages left to copy, and the WAL file stays at about
/// `writerLimit` pages (32 MB at the default; SQLite's own is about 4 MB). Durability is the same: a commit is
/// on disk when its WAL frames are (`synchronous=FULL`); a checkpoint only moves them into the database file.
///
/// Calls sqlite3 directly for the WAL hook (`sqlite3_wal_hook`, run after each commit of the writer), which
/// GRDB does not expose. A `PRAGMA wal_autocheckpoint` on the writer would replace it.
final class WALCheckpointer: Sendable {
    /// WAL pages not yet checkpointed that start a checkpoint (SQLite's own auto-checkpoint threshold).
    let threshold: Int
    /// WAL pages at which the writer checkpoints itself (~32 MB of WAL at 4 KiB pages).
    let writerLimit: Int
    private let connection: DatabaseQueue
    /// A checkpoint is queued or running on `connection`.
    private let running = Atomic<Bool>(false)
    /// The WAL's frames the last checkpoint had copied.
    private let checkpointed = Atomic<Int>(0)
    /// Tests only: no checkpoints on `connection` (as if it were stuck), so the writer's fallback runs.
    let paused = Atomic<Bool>(false)
    /// Checkpoints run by `connection` and by the writer itself, for tests.
    let backgroundCheckpoints = Atomic<Int>(0)
    let writerCheckpoints = Atomic<Int>(0)

    init(path: String, configuration: Configuration, threshold: Int, writerLimit: Int) throws {
        var configuration = configuration
        configuration.label = (configuration.label ?? "sqlite") + ".checkpoint"
        self.connection = try DatabaseQueue(path: path, configuration: configuration)
        try connection.inDatabase { try SQLiteLogStore.syncEveryCommit($0) }
        self.threshold = threshold
        self.writerLimit = writerLimit
    }

    /// Replaces the writer's auto-checkpoint with this (on the writer's queue). The writer must call
    /// ``uninstall(from:)`` before this object goes away.
    func install(on writer: Database) {
        sqlite3_wal_hook(writer.sqliteConnection, Self.hook, Unmanaged.passUnretained(self).toOpaque())
    }

    func uninstall(from writer: Database) {
        sqlite3_wal_hook(writer.sqliteConnection, nil, nil)
    }

    /// Runs `body` on this object's own connection (tests read its settings).
    func inDatabase<T>(_ body: (Database) throws -> T) rethrows -> T {
        try connection.inDatabase(body)
    }

    private static let hook: @convention(c) (UnsafeMutableRawPointer?, OpaquePointer?, UnsafePointer<CChar>?, Int32) -> Int32 = {
        context, writer, _, pages in
        guard let context else { return SQLITE_OK }
        Unmanaged<WALCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(walPages: Int(pages), writer)
        return SQLITE_OK
    }

    /// After every commit of the writer, with the pages the WAL now holds.
    private func committed(walPages: Int, _ writer: OpaquePointer?) {
        if walPages >= writerLimit {
            // The other connection fell behind: checkpoint here, as SQLite would have.
            if sqlite3_wal_checkpoint_v2(writer, nil, SQLITE_CHECKPOINT_PASSIVE, nil, nil) == SQLITE_OK {
                writerCheckpoints.add(1, ordering: .relaxed)
            }
            return
        }
        let copied = checkpointed.load(ordering: .relaxed)
        let behind = walPages >= copied ? walPages - copied : walPages  // fewer: the WAL started over
        guard behind >= threshold, !paused.load(ordering: .relaxed), !running.exchange(true, ordering: .acquiring) else { return }
        connection.asyncWriteWithoutTransaction { [self] db in
            // SQLITE_BUSY (another process checkpoints) or any other failure: the next commit asks again, and
            // the writer's own checkpoint at `writerLimit` bounds the WAL meanwhile.
            if let result = try? db.checkpoint(.passive) {
                checkpointed.store(result.checkpointedFrameCount, ordering: .relaxed)
                backgroundCheckpoints.add(1, ordering: .relaxed)
            }
            running.store(false, ordering: .releasing)
        }
    }
}
