import Foundation
import LogPipeCore
import MongoBridge
import NIOPosix

/// The MongoDB store: database `logpipe` (configurable), one collection per tenant named by the tenant id,
/// `_id` = `log_id`, unordered bulk inserts with write concern `majority` by default. A duplicate key (E11000)
/// counts as already stored; any other write error fails the batch (the worker leaves it unacked and it is
/// redelivered; the documents that did go in are duplicates next time).
///
/// libmongoc blocks, so every call runs on a small thread pool of its own, never on the cooperative pool.
public final class MongoLogStore: LogStore {
    let pool: MongoClientPool
    let database: String
    let writeConcern: String
    private let threads: NIOThreadPool

    public init(uri: String, database: String, writeConcern: String = "majority") throws(StoreError) {
        do {
            pool = try MongoClientPool(uri: uri)
        } catch {
            throw StoreError(transient: false, "\(error)")
        }
        self.database = database
        self.writeConcern = writeConcern
        threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
    }

    deinit { threads.shutdownGracefully { _ in } }

    public func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        var result = StoreWriteResult()
        for (tenant, group) in Dictionary(grouping: logs, by: \.tenantID) {
            let documents = group.map(Self.fields)
            let outcome: MongoInsertResult = try await blocking { [pool, database, writeConcern] in
                try pool.insertMany(database: database, collection: tenant.rawValue, documents: documents, writeConcern: writeConcern)
            }
            let duplicates = outcome.writeErrors.filter { $0.code == 11000 }.count
            if let other = outcome.writeErrors.first(where: { $0.code != 11000 }) {
                // The rest of the batch is stored; the whole batch is retried (or parked) and the stored ones
                // then count as duplicates. Server messages may quote document contents: only the code is kept.
                let permanent = Self.permanentWriteErrorCodes.contains(other.code)
                throw StoreError(transient: !permanent, reason: permanent ? "store_rejected" : "store_write_failed",
                                 "MongoDB write error \(other.code) on \(outcome.writeErrors.count - duplicates) document(s)")
            }
            result.stored += outcome.inserted
            result.duplicates += duplicates
        }
        return result
    }

    /// The stored document (DESIGN §4's fields plus `_id`), built as BSON field by field: attribute keys
    /// such as `$numberLong` or `a.b` and every value stay plain data.
    static func fields(_ log: StoredLog) -> [BSONField] {
        var fields: [BSONField] = [
            BSONField("_id", .string(log.logID)), BSONField("log_id", .string(log.logID)),
            BSONField("tenant_id", .string(log.tenantID.rawValue)), BSONField("text", .string(log.text)),
            BSONField("redactions", .document(log.redactions.sorted { $0.key < $1.key }.map { BSONField($0.key, .int64(Int64($0.value))) })),
            BSONField("received_at", .string(log.receivedAt)), BSONField("processed_at", .string(log.processedAt)),
            BSONField("request_id", .string(log.requestID)),
        ]
        if let timestamp = log.timestamp { fields.append(BSONField("timestamp", .string(timestamp))) }
        if let level = log.level { fields.append(BSONField("level", .string(level))) }
        if let source = log.source { fields.append(BSONField("source", .string(source))) }
        if let attributes = log.attributes {
            fields.append(BSONField("attributes", .document(attributes.sorted { $0.key < $1.key }.map { key, value in
                switch value {
                case .string(let text): BSONField(key, .string(text))
                case .int(let number): BSONField(key, .int64(number))
                case .double(let number): BSONField(key, .double(number))
                case .bool(let flag): BSONField(key, .bool(flag))
                }
            })))
        }
        return fields
    }

    public func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? {
        let filter = "{\"_id\": \(Self.quoted(logID))}"
        return try await find(tenant, filter: filter, sort: nil, limit: 1).first
    }

    public func tail(tenant: TenantID, limit: Int) async throws(StoreError) -> [StoredLog] {
        // Newest first by processing time, then by id (UUIDv7 ids sort by time).
        try await find(tenant, filter: "{}", sort: #"{"processed_at": -1, "_id": -1}"#, limit: limit)
    }

    public func count(tenant: TenantID) async throws(StoreError) -> Int {
        try await blocking { [pool, database] in try pool.count(database: database, collection: tenant.rawValue) }
    }

    public func ping() async throws(StoreError) {
        let _: Void = try await blocking { [pool] in try pool.ping() }
    }

    private func find(_ tenant: TenantID, filter: String, sort: String?, limit: Int) async throws(StoreError) -> [StoredLog] {
        let documents: [String] = try await blocking { [pool, database] in
            try pool.find(database: database, collection: tenant.rawValue, filter: filter, sort: sort, limit: limit)
        }
        let decoder = JSONDecoder()
        // Each document is DESIGN §4's fields plus `_id` (= `log_id`), which decoding ignores.
        return documents.compactMap { try? decoder.decode(StoredLog.self, from: Data($0.utf8)) }
    }

    /// Runs a blocking driver call on the store's threads and maps its errors.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(StoreError) -> T {
        do {
            return try await threads.runIfActive(body)
        } catch let error as MongoError {
            let permanent = error.code == .invalidURI || error.code == .invalidDocument
            throw StoreError(transient: !permanent, reason: error.code == .invalidDocument ? "store_rejected" : nil, "\(error)")
        } catch {
            throw StoreError(transient: true, "MongoDB call failed: \(type(of: error))")
        }
    }

    /// Server error codes that no retry can fix: BadValue, DocumentValidationFailure, BSONObjectTooLarge,
    /// InvalidBSON, KeyTooLong, InvalidNamespace.
    static let permanentWriteErrorCodes: Set<Int> = [2, 121, 10334, 22, 17280, 73]

    static func quoted(_ text: String) -> String {
        String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
    }
}
