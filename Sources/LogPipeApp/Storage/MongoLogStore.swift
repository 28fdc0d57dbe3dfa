import Foundation
import LogPipeCore
import Logging
import MongoBridge
import NIOPosix
import Synchronization

/// The MongoDB store: database `logpipe` (configurable), one collection per tenant named by the tenant id,
/// `_id` = `log_id`, unordered bulk inserts with write concern `majority` by default. A duplicate key (E11000)
/// counts as already stored; any other write error fails the batch (the worker leaves it unacked and it is
/// redelivered; the documents that did go in are duplicates next time).
///
/// Documents hold `received_at`, `processed_at` and `timestamp` as BSON dates. Before the first write to a
/// tenant's collection the store makes sure it has the index `received_at_1`, a TTL index
/// (`expireAfterSeconds`) when the tenant's logs expire: created when missing, changed with `collMod` when the
/// retention changed, rebuilt without TTL when logs are now kept forever. Each step is idempotent, so workers
/// that start together converge on the same index.
///
/// libmongoc blocks, so every call runs on a small thread pool of its own, never on the cooperative pool.
public final class MongoLogStore: LogStore {
    let pool: MongoClientPool
    let database: String
    let writeConcern: String
    let retention: RetentionPolicy
    private let threads: NIOThreadPool
    /// Tenants whose index this process has checked.
    private let indexed = Mutex<Set<TenantID>>([])
    private let logger = Logger(label: "logpipe.store.mongodb")

    public init(uri: String, database: String, writeConcern: String = "majority", retention: RetentionPolicy = RetentionPolicy()) throws(StoreError) {
        do {
            pool = try MongoClientPool(uri: uri)
        } catch {
            throw StoreError(transient: false, "\(error)")
        }
        self.database = database
        self.writeConcern = writeConcern
        self.retention = retention
        threads = NIOThreadPool(numberOfThreads: 2)
        threads.start()
        Self.routeDriverLog(to: logger)
    }

    deinit { threads.shutdownGracefully { _ in } }

    public func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult {
        var result = StoreWriteResult()
        for (tenant, group) in Dictionary(grouping: logs, by: \.tenantID) {
            try await ensureIndex(tenant)
            let documents = group.map(Self.fields)
            let outcome: MongoInsertResult = try await blocking { [pool, database, writeConcern] in
                try pool.insertMany(database: database, collection: tenant.rawValue, documents: documents, writeConcern: writeConcern)
            }
            let duplicates = outcome.writeErrors.filter { $0.code == 11000 }.count
            if let other = outcome.writeErrors.first(where: { $0.code != 11000 }) {
                // The rest of the batch is stored; the whole batch is retried (or parked) and the stored ones
                // then count as duplicates. Server messages may quote document contents: only the code is kept.
                let permanent = Self.permanentWriteErrorCodes.contains(other.code)
                let primaryChange = MongoError.primaryChangeCodes.contains(UInt32(clamping: other.code))
                throw StoreError(
                    transient: !permanent, reason: permanent ? "store_rejected" : primaryChange ? "store_not_primary" : "store_write_failed",
                    "MongoDB write error \(other.code) on \(outcome.writeErrors.count - duplicates) document(s)")
            }
            // Trust no server: a reply that accounts for fewer documents than were sent leaves some unknown, so
            // the batch is retried (what is stored then counts as duplicates) rather than acknowledged.
            guard outcome.inserted + duplicates == documents.count else {
                throw StoreError(
                    transient: true, reason: "store_write_failed",
                    "MongoDB acknowledged \(outcome.inserted + duplicates) of \(documents.count) documents")
            }
            result.stored += outcome.inserted
            result.duplicates += duplicates
        }
        return result
    }

    /// The stored document (the fields of docs/operations.md, Running against MongoDB, plus `_id`), built as BSON field by field: attribute keys
    /// such as `$numberLong` or `a.b` and every value stay plain data.
    static func fields(_ log: StoredLog) -> [BSONField] {
        var fields: [BSONField] = [
            BSONField("_id", .string(log.logID)), BSONField("log_id", .string(log.logID)),
            BSONField("tenant_id", .string(log.tenantID.rawValue)), BSONField("text", .string(log.text)),
            BSONField("redactions", .document(log.redactions.sorted { $0.key < $1.key }.map { BSONField($0.key, .int64(Int64($0.value))) })),
            BSONField("received_at", time(log.receivedAt)), BSONField("processed_at", time(log.processedAt)),
            BSONField("request_id", .string(log.requestID)),
        ]
        if let timestamp = log.timestamp { fields.append(BSONField("timestamp", time(timestamp))) }
        if let level = log.level { fields.append(BSONField("level", .string(level))) }
        if let source = log.source { fields.append(BSONField("source", .string(source))) }
        if let attributes = log.attributes {
            fields.append(
                BSONField(
                    "attributes",
                    .document(
                        attributes.sorted { $0.key < $1.key }.map { key, value in
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

    /// A stamp in the stores' form as a BSON date; a text in another form (a client's `timestamp` from before
    /// times were normalised) stays a string.
    static func time(_ stamp: String) -> BSONValue {
        UnixTime(stamp: stamp).map { .date(Int64($0.milliseconds)) } ?? .string(stamp)
    }

    /// A stored document read back; nil for one that is not logpipe's (no string `_id` or `text`).
    static func storedLog(_ document: [BSONField], tenant: TenantID) -> StoredLog? {
        func string(_ key: String) -> String? {
            switch document[key] {
            case .string(let text)?: text
            case .date(let milliseconds)?: UnixTime(milliseconds: UInt64(max(0, milliseconds))).rfc3339
            default: nil
            }
        }
        guard let logID = string("_id"), let text = string("text") else { return nil }
        var redactions: [String: Int] = [:]
        if case .document(let counts)? = document["redactions"] {
            for field in counts { if let count = field.value.integer { redactions[field.key] = Int(count) } }
        }
        var attributes: [String: AttributeValue]?
        if case .document(let values)? = document["attributes"] {
            var decoded: [String: AttributeValue] = [:]
            for field in values {
                switch field.value {
                case .string(let text): decoded[field.key] = .string(text)
                case .int32(let number): decoded[field.key] = .int(Int64(number))
                case .int64(let number): decoded[field.key] = .int(number)
                case .double(let number): decoded[field.key] = .double(number)
                case .bool(let flag): decoded[field.key] = .bool(flag)
                default: continue
                }
            }
            attributes = decoded
        }
        return StoredLog(
            logID: logID, tenantID: tenant, text: text, redactions: redactions,
            receivedAt: string("received_at") ?? "", processedAt: string("processed_at") ?? "",
            requestID: string("request_id") ?? "",
            fields: LogFields(timestamp: string("timestamp"), level: string("level"), source: string("source"), attributes: attributes))
    }

    public func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog? {
        try await find(tenant, filter: [BSONField("_id", .string(logID))], sort: [], limit: 1).first
    }

    public func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog] {
        var filter: [BSONField] = []
        if let since = query.since { filter.append(BSONField("received_at", .document([BSONField("$gte", .date(Int64(since.milliseconds)))]))) }
        if let level = query.level { filter.append(BSONField("level", .string(level))) }
        if let text = query.contains {
            filter.append(BSONField("text", .document([BSONField("$regex", .string(NSRegularExpression.escapedPattern(for: text)))])))
        }
        // The `received_at_1` index serves both directions.
        return try await find(tenant, filter: filter, sort: [BSONField("received_at", .int32(query.oldestFirst ? 1 : -1))], limit: query.limit)
    }

    public func count(tenant: TenantID) async throws(StoreError) -> Int {
        try await blocking { [pool, database] in try pool.count(database: database, collection: tenant.rawValue) }
    }

    public func ping() async throws(StoreError) {
        let _: Void = try await blocking { [pool] in try pool.ping() }
    }

    private func find(_ tenant: TenantID, filter: [BSONField], sort: [BSONField], limit: Int) async throws(StoreError) -> [StoredLog] {
        let documents: [[BSONField]] = try await blocking { [pool, database] in
            try pool.find(database: database, collection: tenant.rawValue, filter: filter, sort: sort, limit: limit)
        }
        return documents.compactMap { Self.storedLog($0, tenant: tenant) }
    }

    /// libmongoc's own lines (monitoring, failed handshakes) go through the process's logger, in its format and at
    /// its level, instead of to stderr in the driver's format.
    static func routeDriverLog(to logger: Logger) {
        MongoDriverLog.route { level, domain, driverMessage in
            let metadata: Logger.Metadata = ["mongoc.domain": "\(TerminalText.escaped(domain))"]
            let message = TerminalText.escaped(driverMessage)
            switch level {
            case .error: logger.error("libmongoc: \(message)", metadata: metadata)
            case .warning: logger.warning("libmongoc: \(message)", metadata: metadata)
            case .info: logger.info("libmongoc: \(message)", metadata: metadata)
            case .debug: logger.debug("libmongoc: \(message)", metadata: metadata)
            }
        }
    }

    // MARK: - The received_at index

    static let indexName = "received_at_1"

    /// Checks the tenant's index once per process (again after a failure).
    private func ensureIndex(_ tenant: TenantID) async throws(StoreError) {
        guard !indexed.withLock({ $0.contains(tenant) }) else { return }
        let ttl = retention.period(for: tenant).map { min(Int64(Int32.max), max(1, DurationText.milliseconds($0) / 1000)) }
        do {
            try await threads.runIfActive { [pool, database] in
                try Self.ensureIndex(pool, database: database, collection: tenant.rawValue, ttlSeconds: ttl)
            }
        } catch let error as MongoError where [.unreachable, .tlsFailed, .authenticationFailed].contains(error.code) {
            throw StoreError(transient: true, "\(error)")  // the insert would fail the same way: retried as a whole
        } catch {
            // The server refused to change the index (a role without collMod or dropIndex, a foreign index of the same
            // name): the logs are stored all the same, and the next start of a worker tries again.
            logger.warning(
                "received_at index of a tenant not brought in line with the retention; writes go on",
                metadata: [
                    "tenant.id": "\(tenant)", "error": "\((error as? MongoError)?.description.prefix(200) ?? "\(type(of: error))")",
                ])
        }
        indexed.withLock { _ = $0.insert(tenant) }
    }

    /// Makes the collection's `received_at` index exist with `expireAfterSeconds` = `ttlSeconds` (none when nil).
    static func ensureIndex(_ pool: MongoClientPool, database: String, collection: String, ttlSeconds: Int64?) throws {
        let key = BSONValue.document([BSONField("received_at", .int32(1))])
        for _ in 0..<3 {
            let existing = try pool.listIndexes(database: database, collection: collection).first { index in
                guard case .document(let fields)? = index["key"], fields.count == 1 else { return false }
                return fields[0].key == "received_at" && fields[0].value.integer == 1
            }
            guard let existing else {
                var spec = [BSONField("key", key), BSONField("name", .string(indexName))]
                if let ttlSeconds { spec.append(BSONField("expireAfterSeconds", .int64(ttlSeconds))) }
                do {
                    _ = try pool.command(
                        database: database,
                        [
                            BSONField("createIndexes", .string(collection)),
                            BSONField("indexes", .array([.document(spec)])),
                        ])
                    return
                } catch let error as MongoError where error.serverCode == 85 || error.serverCode == 86 {
                    continue  // another worker created it with other options meanwhile: look again
                }
            }
            let current = existing["expireAfterSeconds"]?.integer
            if current == ttlSeconds { return }
            if let ttlSeconds {
                do {
                    _ = try pool.command(
                        database: database,
                        [
                            BSONField("collMod", .string(collection)),
                            BSONField(
                                "index",
                                .document([
                                    BSONField("keyPattern", key), BSONField("expireAfterSeconds", .int64(ttlSeconds)),
                                ])),
                        ])
                    return
                } catch let error as MongoError where error.code == .server {
                    // MongoDB before 5.1 cannot make a plain index a TTL index in place, and a role may lack collMod:
                    // the index is built again below.
                }
            }
            // Kept forever now (a TTL cannot be removed in place), or a TTL the server would not add in place: the
            // index is built again as it should be.
            guard case .string(let name)? = existing["name"] else { return }
            do {
                _ = try pool.command(database: database, [BSONField("dropIndexes", .string(collection)), BSONField("index", .string(name))])
            } catch let error as MongoError where error.serverCode == 27 {
                continue  // IndexNotFound: another worker dropped it first; look again
            }
        }
        throw MongoError(.server, "the received_at index of a collection kept changing under this worker")
    }

    /// Runs a blocking driver call on the store's threads and maps its errors.
    private func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws(StoreError) -> T {
        do {
            return try await threads.runIfActive(body)
        } catch let error as MongoError {
            let permanent = error.code == .invalidURI || error.code == .invalidDocument
            // A replica set between primaries (election, step-down, a secondary answering): retried through the
            // tiers like any outage; the `_id` keeps a repeated write from storing twice.
            let reason = error.code == .invalidDocument ? "store_rejected" : error.isPrimaryChange ? "store_not_primary" : nil
            throw StoreError(transient: !permanent, reason: reason, "\(error)")
        } catch {
            throw StoreError(transient: true, "MongoDB call failed: \(type(of: error))")
        }
    }

    /// Server error codes that no retry can fix: BadValue, DocumentValidationFailure, BSONObjectTooLarge,
    /// InvalidBSON, KeyTooLong, InvalidNamespace.
    static let permanentWriteErrorCodes: Set<Int> = [2, 121, 10334, 22, 17280, 73]

}
