import Foundation
import GRDB
import GRDBSQLite
import LogPipeCore

// The read API's page reader: like `SQLiteLogStore.logs`, text columns are read with their byte length (a log's
// text may hold `\u0000`); the text is checked against the line filters before anything else of the row is
// decoded, so rows a filter drops cost one column read. Runs inside GRDB's serialized access to the reader's
// connection.
extension SQLiteLogReader {
    /// One page of a scan: the selected logs, and the position after the page's last row.
    struct Page {
        var logs: [StoredLog] = []
        /// `received_at` and rowid of the last row read (selected or not); nil when the page was not full.
        var next: (receivedAt: String, rowID: Int64)?
    }

    /// Runs `sql` (columns: rowid, received_at, text, log_id, an unread column, processed_at, request_id, timestamp,
    /// level, source, attributes) and keeps the rows whose text passes `filters`.
    static func page(
        _ db: Database, sql: String, arguments: StatementArguments, tenant: TenantID, filters: [LineFilter], pageSize: Int
    ) throws -> Page {
        let statement = try db.makeStatement(sql: sql)
        try statement.setArguments(arguments)
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        func attributes(_ column: Int32) -> [String: AttributeValue]? {
            guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else { return nil }
            let buffer = UnsafeRawBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column)))
            // The fast reader first; Foundation's for anything it refuses (it never should: the store writes these).
            return AttributeValue.object(json: buffer) ?? (try? JSONDecoder().decode([String: AttributeValue].self, from: Data(buffer)))
        }
        func text(_ column: Int32) -> String? {
            guard sqlite3_column_type(handle, column) != SQLITE_NULL, let bytes = sqlite3_column_text(handle, column) else { return nil }
            return String(decoding: UnsafeBufferPointer(start: bytes, count: Int(sqlite3_column_bytes(handle, column))), as: UTF8.self)
        }
        var page = Page()
        var rows = 0
        var last: (String, Int64)?
        while true {
            let code = sqlite3_step(handle)
            if code == SQLITE_DONE { break }
            guard code == SQLITE_ROW else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)))
            }
            rows += 1
            let receivedAt = text(1) ?? ""
            last = (receivedAt, sqlite3_column_int64(handle, 0))
            let line = text(2) ?? ""
            guard filters.allSatisfy({ $0.matches(line) }) else { continue }
            page.logs.append(
                StoredLog(
                    logID: text(3) ?? "", tenantID: tenant, text: line,
                    redactions: [:],
                    receivedAt: receivedAt, processedAt: text(5) ?? "", requestID: text(6) ?? "",
                    fields: LogFields(timestamp: text(7), level: text(8), source: text(9), attributes: attributes(10))))
        }
        if rows == pageSize { page.next = last }
        return page
    }
}
