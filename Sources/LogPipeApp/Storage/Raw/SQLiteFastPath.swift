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
    /// The bytes of one insert's columns, kept across the inserts of a write so that, once grown, an insert
    /// allocates nothing.
    struct InsertBuffer {
        /// Every column's bytes, after a first byte that keeps the buffer's address non-null (an empty text
        /// binds as '' only with a non-null pointer).
        var bytes: [UInt8] = [0]
        /// Where each column is in `bytes`, in the insert's column order; nil binds NULL.
        var spans: [Range<Int>?] = []

        mutating func reset() {
            bytes.removeSubrange(1...)
            spans.removeAll(keepingCapacity: true)
        }

        mutating func append(_ text: String?) {
            guard let text else { return spans.append(nil) }
            let start = bytes.count
            bytes.append(contentsOf: text.utf8)
            spans.append(start..<bytes.count)
        }

        /// A column written by `body` straight into the buffer (the JSON ones).
        mutating func appendWritten(_ body: (inout [UInt8]) -> Void) {
            let start = bytes.count
            body(&bytes)
            spans.append(start..<bytes.count)
        }
    }

    /// Runs the insert for one log; true when a row was added, false when the `log_id` was already there.
    /// Every column's bytes go into `buffer`, the two JSON columns written straight into it, and are bound from
    /// there without a copy (`SQLITE_STATIC`): SQLite reads them only during the step, and the bindings are
    /// cleared before the buffer can change.
    static func insert(_ log: StoredLog, with statement: SQLiteStatement, buffer: inout InsertBuffer, _ db: Database) throws -> Bool {
        sqlite3_reset(statement)
        buffer.reset()
        buffer.append(log.logID)
        buffer.append(log.tenantID.rawValue)
        buffer.append(log.text)
        buffer.appendWritten { JSONWriting.appendCounts(log.redactions, to: &$0) }
        buffer.append(log.receivedAt)
        buffer.append(log.processedAt)
        buffer.append(log.requestID)
        buffer.append(log.timestamp)
        buffer.append(log.level)
        buffer.append(log.source)
        if let attributes = log.attributes {
            buffer.appendWritten { JSONWriting.appendAttributes(attributes, to: &$0) }
        } else {
            buffer.append(nil)
        }
        let spans = buffer.spans
        let code = buffer.bytes.withUnsafeBufferPointer { bytes -> Int32 in
            defer { sqlite3_clear_bindings(statement) }
            let base = UnsafeRawPointer(bytes.baseAddress!).assumingMemoryBound(to: CChar.self)
            for (offset, span) in spans.enumerated() {
                let index = Int32(offset + 1)
                let code =
                    if let span {
                        sqlite3_bind_text(statement, index, base + span.lowerBound, Int32(span.count), nil)  // nil: SQLITE_STATIC
                    } else {
                        sqlite3_bind_null(statement, index)
                    }
                guard code == SQLITE_OK else { return code }
            }
            return sqlite3_step(statement)
        }
        guard code == SQLITE_DONE else {
            let message = String(cString: sqlite3_errmsg(db.sqliteConnection))
            sqlite3_reset(statement)
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
        }
        return sqlite3_changes(db.sqliteConnection) > 0
    }

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
                    fields: LogFields(
                        timestamp: text(6), level: text(7), source: text(8),
                        attributes: try text(9).map { try decoder.decode([String: AttributeValue].self, from: Data($0.utf8)) })))
        }
        sqlite3_reset(handle)
        return logs
    }
}
