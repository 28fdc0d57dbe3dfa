import Foundation
import GRDB
import LogPipeCore
import Synchronization

/// The read side of the SQLite store (the Loki read API), on read-only connections of its own (a pool: up to four
/// requests read at once): in WAL mode a reader never blocks the worker's writes, and a scan holds no lock between
/// its pages.
///
/// A scan walks the tenant's table through the `"<tenant>.received_at"` index (the index every table has), page
/// by page in `(received_at, rowid)` order, so each page is a short index range. `level`, `source` and
/// attribute equalities and `|=`/`!=` line filters are evaluated by SQLite (`json_extract`, `instr`); regular
/// expressions by the linear-time matcher before the rest of the row is decoded. `redactions` are not read (the
/// read API does not show them).
public final class SQLiteLogReader: LogReader {
    public let path: String
    /// Opened on first use: the API may start before any worker has created the file.
    private let connection = Mutex<DatabasePool?>(nil)

    public init(path: String) {
        self.path = path
    }

    public func scan(tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(StoreError) {
        guard let queue = try open() else { return }
        let (sql, arguments, regexFilters) = Self.statement(tenant: tenant, scan)
        var after: (receivedAt: String, rowID: Int64)?
        let start = UnixTime(milliseconds: UInt64(max(0, scan.startMilliseconds))).rfc3339
        let end = UnixTime(milliseconds: UInt64(max(0, scan.endMilliseconds))).rfc3339
        guard scan.endMilliseconds > scan.startMilliseconds else { return }
        do {
            while true {
                let position = after
                let page = try await queue.read { db -> Page? in
                    guard
                        try Bool.fetchOne(db, sql: "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", arguments: [tenant.rawValue])
                            != nil
                    else { return nil }
                    var values: StatementArguments = [start, end] + arguments
                    if let position {
                        values += [position.receivedAt, position.receivedAt, position.rowID]
                    } else {
                        values += [scan.newestFirst ? end : start, "", 0]
                    }
                    values += [scan.pageSize]
                    return try Self.page(
                        db, sql: sql(position != nil), arguments: values, tenant: tenant, filters: regexFilters, pageSize: scan.pageSize)
                }
                guard let page else { return }
                if !page.logs.isEmpty, !visit(page.logs) { return }
                guard let next = page.next else { return }
                after = next
            }
        } catch {
            throw StoreError(transient: true, "SQLite read failed: \(SQLiteLogStore.reason(error))")
        }
    }

    /// The page query (as a function of whether a page came before), its fixed arguments after the range, and
    /// the filters left to Swift.
    static func statement(tenant: TenantID, _ scan: LogScan) -> (@Sendable (Bool) -> String, StatementArguments, [LineFilter]) {
        var conditions = ["received_at >= ?", "received_at < ?"]
        var arguments: StatementArguments = []
        for equality in scan.equalities {
            switch equality.field {
            case .level:
                conditions.append("level = ?")
                arguments += [equality.value]
            case .source:
                conditions.append("source = ?")
                arguments += [equality.value]
            case .attribute(let key):
                // The key is a label name without `_` ([A-Za-z0-9]): safe inside the JSON path's quotes.
                let forms = equality.attributeForms
                conditions.append("json_extract(attributes, '$.\"\(key)\"') IN (\(forms.map { _ in "?" }.joined(separator: ", ")))")
                for form in forms {
                    switch form {
                    case .string(let text): arguments += [text]
                    case .int(let number): arguments += [number]
                    case .double(let number): arguments += [number]
                    case .bool(let flag): arguments += [flag ? 1 : 0]
                    }
                }
            }
        }
        var regexFilters: [LineFilter] = []
        for filter in scan.lineFilters {
            switch filter {
            case .contains(let text):
                conditions.append("instr(text, ?) > 0")
                arguments += [text]
            case .notContains(let text):
                conditions.append("instr(text, ?) = 0")
                arguments += [text]
            case .matches(let regex):
                // Lines without a text every match contains are skipped by SQLite; the matcher checks the rest.
                for literal in regex.requiredLiterals {
                    conditions.append("instr(text, ?) > 0")
                    arguments += [literal]
                }
                regexFilters.append(filter)
            case .notMatches: regexFilters.append(filter)
            }
        }
        let direction = scan.newestFirst ? "DESC" : "ASC"
        let base =
            "SELECT rowid, received_at, text, log_id, '{}', processed_at, request_id, timestamp, level, source, attributes FROM \(SQLiteLogStore.table(tenant)) WHERE "
        let fixed = conditions.joined(separator: " AND ")
        // After a page: rows strictly beyond the last one in (received_at, rowid) order; the bound on received_at
        // keeps the index range short. Before the first page the same placeholders hold a bound that excludes nothing.
        let continuation =
            scan.newestFirst ? "received_at <= ? AND (received_at < ? OR rowid < ?)" : "received_at >= ? AND (received_at > ? OR rowid > ?)"
        let first = scan.newestFirst ? "received_at <= ? AND (received_at < ? OR rowid > ?)" : "received_at >= ? AND (received_at > ? OR rowid > ?)"
        let tail = " ORDER BY received_at \(direction), rowid \(direction) LIMIT ?"
        return ({ continued in base + fixed + " AND " + (continued ? continuation : first) + tail }, arguments, regexFilters)
    }

    /// The connections, opened read-only once the database file exists; nil before.
    private func open() throws(StoreError) -> DatabasePool? {
        do {
            return try connection.withLock { existing -> DatabasePool? in
                if let existing { return existing }
                guard FileManager.default.fileExists(atPath: path) else { return nil }
                var configuration = Configuration()
                configuration.readonly = true
                configuration.busyMode = .timeout(5)
                configuration.label = "logpipe.sqlite.reader"
                configuration.maximumReaderCount = 4
                let queue = try DatabasePool(path: path, configuration: configuration)
                existing = queue
                return queue
            }
        } catch {
            throw StoreError(transient: true, "cannot open the SQLite store at \(path) for reading: \(SQLiteLogStore.reason(error))")
        }
    }
}
