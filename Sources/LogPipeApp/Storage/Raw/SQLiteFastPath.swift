import Foundation
import GRDB
import GRDBSQLite
import LogPipeCore

// The SQLite store's fast path, with WALCheckpointer's WAL hook the only places of the store that call
// sqlite3 directly: binding a log's columns straight from UTF-8 into a prepared insert (GRDB's argument arrays
// cost a third of a write), and reading text columns with their byte length (GRDB's `String` columns end at the first NUL, and a log's
// text may hold `\u0000`). Everything else goes through GRDB. Runs inside GRDB's serialized database access,
// on the connection GRDB owns.
extension SQLiteLogStore {
    /// Runs the insert for one log; true when a row was added, false when the `log_id` was already there.
    static func insert(_ log: StoredLog, with statement: SQLiteStatement, _ db: Database) throws -> Bool {
        sqlite3_reset(statement)
        let values: [String?] = [
            log.logID, log.tenantID.rawValue, log.text, countsJSON(log.redactions), log.receivedAt,
            log.processedAt, log.requestID, log.timestamp, log.level, log.source,
            log.attributes.map(attributesJSON),
        ]
        for (offset, value) in values.enumerated() {
            let index = Int32(offset + 1)
            let code: Int32
            if var value {
                code = value.withUTF8 { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), sqliteTransient) }
            } else {
                code = sqlite3_bind_null(statement, index)
            }
            guard code == SQLITE_OK else { throw DatabaseError(resultCode: ResultCode(rawValue: code), message: "bind failed") }
        }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(statement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
        return sqlite3_changes(db.sqliteConnection) > 0
    }

    /// SQLite copies the bound bytes (`SQLITE_TRANSIENT`).
    static let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    /// Rows as stored logs, every text column read with its byte length: GRDB's `String` columns end at the
    /// first NUL, and a log's text may hold `\u0000`.
    static func logs(_ db: Database, sql: String, arguments: StatementArguments, _ tenant: TenantID) throws -> [StoredLog] {
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(arguments)
        let handle = statement.sqliteStatement
        func text(_ column: Int32) -> String? {
            guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
        }
        let decoder = JSONDecoder()
        var logs: [StoredLog] = []
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            logs.append(
                StoredLog(
                    logID: text(0) ?? "", tenantID: tenant, text: text(1) ?? "",
                    redactions: try decoder.decode([String: Int].self, from: Data((text(2) ?? "{}").utf8)),
                    receivedAt: text(3) ?? "", processedAt: text(4) ?? "", requestID: text(5) ?? "",
                    timestamp: text(6), level: text(7), source: text(8),
                    attributes: try text(9).map { try decoder.decode([String: AttributeValue].self, from: Data($0.utf8)) }))
        }
        sqlite3_reset(handle)
        return logs
    }
}
