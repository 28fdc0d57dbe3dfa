import Foundation
import GRDB
import LogPipeCore
import Synchronization

/// The embedded store: one SQLite file, one table per tenant (`"<tenant_id>"`), `log_id TEXT PRIMARY KEY`,
/// `INSERT … ON CONFLICT DO NOTHING` (first write wins), WAL journal, one transaction per batch. Times are
/// text in one sortable form (`YYYY-MM-DDTHH:MM:SS.mmmZ`), and each table has the index
/// `"<tenant_id>.received_at"` (a dot cannot be in a tenant id, so no table name can clash with it), which
/// `logs tail` and retention read through.
///
/// Retention (``deleteExpired(now:batchSize:)``, run by ``RetentionSweeper``) deletes rows received before the
/// tenant's cut-off in small transactions of their own, so writes wait at most one small batch.
///
/// GRDB runs every access on its own serial dispatch queue; the async methods suspend without blocking the
/// cooperative pool. `synchronous=FULL` (set on the open connection: GRDB's WAL set-up picks `NORMAL`) makes a
/// committed batch survive a power loss, which is what "acked only after durable" needs. WAL checkpoints run on a second connection
/// (``WALCheckpointer``), so a batch rarely waits for the copy into the database file (only when the writer
/// checkpoints itself at its limit).
public final class SQLiteLogStore: LogStore {
    private let queue: DatabaseQueue
    /// Runs the WAL checkpoints on a connection of its own, off the write path.
    let checkpointer: WALCheckpointer
    /// Tenants whose table is known to exist (tables are created on first write).
    private let tables = Mutex<Set<TenantID>>([])
    /// The insert statement of each tenant's table, prepared once.
    private let inserts = InsertStatements()

    public convenience init(path: String) throws(StoreError) {
        try self.init(path: path, checkpointPages: (threshold: 1_000, writerLimit: 8_000))
    }

    /// `checkpointPages`: WAL pages not yet checkpointed that start a checkpoint on the second connection, and WAL
    /// pages at which the writer checkpoints itself (``WALCheckpointer``); tests make them small.
    init(path: String, checkpointPages: (threshold: Int, writerLimit: Int)) throws(StoreError) {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            var configuration = Configuration()
            configuration.journalMode = .wal
            configuration.busyMode = .timeout(5)
            configuration.label = "logpipe.sqlite"
            queue = try DatabaseQueue(path: path, configuration: configuration)
            checkpointer = try WALCheckpointer(
                path: path, configuration: configuration, threshold: checkpointPages.threshold, writerLimit: checkpointPages.writerLimit)
            try queue.inDatabase { [checkpointer] db in
                try Self.syncEveryCommit(db)
                checkpointer.install(on: db)
            }
        } catch {
            throw StoreError(transient: false, "cannot open the SQLite store at \(path): \(Self.reason(error))")
        }
    }

    /// `synchronous=FULL`: each commit is fsynced before it returns, so a batch acked after its write survives
    /// a power loss or an OS crash. GRDB's WAL set-up chooses `NORMAL` (a commit reaches the disk only at the
    /// next checkpoint), after any `prepareDatabase`, so this runs on the open connection.
    static func syncEveryCommit(_ db: Database) throws {
        try db.execute(sql: "PRAGMA synchronous = FULL")
    }

    /// `PRAGMA synchronous` of the writer's connection and of the checkpointer's (2 is `FULL`), for tests.
    func synchronousModes() throws -> (writer: Int, checkpointer: Int) {
        let pragma = "PRAGMA synchronous"
        return (try queue.inDatabase { try Int.fetchOne($0, sql: pragma) ?? -1 }, try checkpointer.inDatabase { try Int.fetchOne($0, sql: pragma) ?? -1 })
    }

    deinit {
        // The hook points at the checkpointer, which goes with this store; the connection may outlive it.
        queue.unsafeReentrantWrite { [checkpointer] db in checkpointer.uninstall(from: db) }
        // Finalized while the connection is open (GRDB closes it when the queue goes).
        inserts.removeAll()
    }

    public func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        guard !logs.isEmpty else { return StoreWriteResult() }
        let batchTenants = Set(logs.map(\.tenantID))
        let newTenants = tables.withLock { batchTenants.subtracting($0) }
        let inserts = self.inserts
        do {
            let result = try await queue.write { db -> StoreWriteResult in
                var result = StoreWriteResult()
                for tenant in newTenants { try Self.createTable(tenant, db) }
                // One prepared statement per tenant table, kept across batches, its values bound straight from the
                // strings' UTF-8 (GRDB's argument arrays cost more than the insert itself at this rate). Not GRDB's
                // statement cache: with thousands of tenants, its dictionary was copied on every insert.
                var buffer = InsertBuffer()
                for log in logs {
                    let insert = try inserts.statement(for: log.tenantID, db)
                    if try Self.insert(log, with: insert.sqliteStatement, buffer: &buffer, db) { result.stored += 1 } else { result.duplicates += 1 }
                }
                return result
            }
            if !newTenants.isEmpty { tables.withLock { $0.formUnion(newTenants) } }
            return result
        } catch {
            throw StoreError(transient: true, "SQLite write failed: \(Self.reason(error))")
        }
    }

    public func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? {
        try await read(tenant) { db in
            try Self.logs(db, sql: "SELECT \(Self.columns) FROM \(Self.table(tenant)) WHERE log_id = ?", arguments: [logID], tenant).first
        } ?? nil
    }

    public func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog] {
        var conditions: [String] = []
        var values: [String] = []
        if let since = query.since {
            conditions.append("received_at >= ?")
            values.append(since.rfc3339)
        }
        if let level = query.level {
            conditions.append("level = ?")
            values.append(level)
        }
        if let text = query.contains {
            conditions.append("instr(text, ?) > 0")
            values.append(text)
        }
        let bound = values
        let limit = query.limit
        let direction = query.oldestFirst ? "ASC" : "DESC"
        let sql =
            "SELECT \(Self.columns) FROM \(Self.table(tenant))"
            + (conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND "))
            + " ORDER BY received_at \(direction), rowid \(direction) LIMIT ?"
        return try await read(tenant) { db in
            try Self.logs(db, sql: sql, arguments: StatementArguments(bound) + [limit], tenant)
        } ?? []
    }

    /// Deletes the rows of every tenant whose retention has passed, `batchSize` rows per transaction; returns
    /// how many went. Each batch is found through the `received_at` index.
    public func deleteExpired(retention: RetentionPolicy, now: UnixTime, batchSize: Int = 1000) async throws(StoreError) -> Int {
        guard !retention.keepsEverything else { return 0 }
        var deleted = 0
        var failure: StoreError?
        for tenant in try await tenants() where !tenant.isReserved {
            guard let period = retention.period(for: tenant) else { continue }
            let cutOff = UnixTime(milliseconds: now.milliseconds - min(now.milliseconds, UInt64(DurationText.milliseconds(period))))
            let sql = """
                DELETE FROM \(Self.table(tenant)) WHERE rowid IN \
                (SELECT rowid FROM \(Self.table(tenant)) WHERE received_at < ? ORDER BY received_at LIMIT ?)
                """
            do {
                // A table from before the index existed (an idle tenant) gets it now, so each batch stays small.
                try await queue.write { db in try Self.createIndex(tenant, db) }
                while true {
                    let count = try await queue.write { db in
                        try db.execute(sql: sql, arguments: [cutOff.rfc3339, batchSize])
                        return db.changesCount
                    }
                    deleted += count
                    if count < batchSize { break }
                }
            } catch {
                // One tenant's failure does not stop the others' sweep; the first is reported at the end.
                if failure == nil { failure = StoreError(transient: true, "SQLite retention delete failed: \(Self.reason(error))") }
            }
        }
        if let failure { throw failure }
        return deleted
    }

    public func count(tenant: TenantID) async throws(StoreError) -> Int {
        try await read(tenant) { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(Self.table(tenant))") ?? 0 } ?? 0
    }

    public func ping() async throws(StoreError) {
        do {
            _ = try await queue.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
        } catch {
            throw StoreError(transient: true, "SQLite is not readable: \(Self.reason(error))")
        }
    }

    /// Tenants that have a table.
    public func tenants() async throws(StoreError) -> [TenantID] {
        do {
            return try await queue.read { db in
                try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                    .compactMap(TenantID.init)
            }
        } catch {
            throw StoreError(transient: true, "SQLite read failed: \(Self.reason(error))")
        }
    }

    // MARK: - Helpers

    /// Runs a read on a tenant's table; `nil` when the table does not exist yet.
    private func read<T: Sendable>(_ tenant: TenantID, _ body: @escaping @Sendable (Database) throws -> T) async throws(StoreError) -> T? {
        do {
            return try await queue.read { db in
                // Asked of SQLite itself, not GRDB's schema cache: another process (a worker) may have created it.
                guard
                    try Bool.fetchOne(
                        db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                        arguments: [tenant.rawValue]) != nil
                else { return nil }
                return try body(db)
            }
        } catch {
            throw StoreError(transient: true, "SQLite read failed: \(Self.reason(error))")
        }
    }

    /// The quoted table name; tenant ids (`[a-z0-9_-]`) need no escaping inside double quotes.
    static func table(_ tenant: TenantID) -> String { "\"\(tenant.rawValue)\"" }

    static func insertSQL(_ tenant: TenantID) -> String {
        """
        INSERT INTO \(table(tenant)) (log_id, tenant_id, text, redactions, received_at, processed_at, request_id, \
        timestamp, level, source, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(log_id) DO NOTHING
        """
    }

    static func createTable(_ tenant: TenantID, _ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS \(table(tenant)) (
                    log_id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL, text TEXT NOT NULL, redactions TEXT NOT NULL,
                    received_at TEXT NOT NULL, processed_at TEXT NOT NULL, request_id TEXT NOT NULL,
                    timestamp TEXT, level TEXT, source TEXT, attributes TEXT)
                """)
        try createIndex(tenant, db)
    }

    static func createIndex(_ tenant: TenantID, _ db: Database) throws {
        try db.execute(sql: "CREATE INDEX IF NOT EXISTS \"\(tenant.rawValue).received_at\" ON \(table(tenant)) (received_at)")
    }

    static let columns = "log_id, text, redactions, received_at, processed_at, request_id, timestamp, level, source, attributes"

    /// The SQLite result code and message, never the SQL arguments (they hold log text).
    static func reason(_ error: any Error) -> String {
        if let error = error as? DatabaseError { return "\(error.resultCode): \(error.message ?? "")" }
        return "\(type(of: error))"
    }
}

/// The insert statement of each tenant's table. Only touched inside `queue.write` (GRDB's serial queue) and by
/// the store's deinit, so it needs no lock of its own.
private final class InsertStatements: @unchecked Sendable {
    private var byTenant: [TenantID: Statement] = [:]

    func statement(for tenant: TenantID, _ db: Database) throws -> Statement {
        if let known = byTenant[tenant] { return known }
        let made = try db.makeStatement(sql: SQLiteLogStore.insertSQL(tenant))
        byTenant[tenant] = made
        return made
    }

    func removeAll() { byTenant.removeAll() }
}
