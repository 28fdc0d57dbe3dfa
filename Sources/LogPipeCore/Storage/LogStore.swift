/// Where workers put logs: one table or collection per tenant, keyed by `log_id`, first write wins.
public protocol LogStore: Sendable {
    /// Writes the logs durably (all or nothing for SQLite; per document for MongoDB) and reports which were
    /// new and which were already there. Throws ``StoreError`` when the write is not known to be durable.
    func write(_ logs: [StoredLog]) async throws(StoreError) -> StoreWriteResult
    /// One log by id, or `nil`.
    func get(tenant: TenantID, logID: String) async throws(StoreError) -> StoredLog?
    /// A tenant's logs that match `query`, by `received_at` (newest first unless `query.oldestFirst`).
    func find(tenant: TenantID, _ query: LogQuery) async throws(StoreError) -> [StoredLog]
    /// How many logs a tenant has.
    func count(tenant: TenantID) async throws(StoreError) -> Int
    /// Succeeds when the store can be written.
    func ping() async throws(StoreError)
}

extension LogStore {
    /// The most recently received logs of a tenant, newest first.
    public func tail(tenant: TenantID, limit: Int) async throws(StoreError) -> [StoredLog] {
        try await find(tenant: tenant, LogQuery(limit: limit))
    }
}

/// Which of a tenant's logs to read (`logpipe logs tail`): all conditions must hold.
public struct LogQuery: Sendable, Hashable {
    /// Received at or after this time.
    public var since: UnixTime?
    /// `level` equal to this.
    public var level: String?
    /// The (redacted) text contains this, case-sensitively.
    public var contains: String?
    public var limit: Int
    /// Oldest first (what `--follow` reads forward with); newest first otherwise.
    public var oldestFirst: Bool

    public init(since: UnixTime? = nil, level: String? = nil, contains: String? = nil, limit: Int, oldestFirst: Bool = false) {
        self.since = since
        self.level = level
        self.contains = contains
        self.limit = limit
        self.oldestFirst = oldestFirst
    }
}

/// What a write did.
public struct StoreWriteResult: Sendable, Hashable {
    /// Logs written now.
    public var stored: Int
    /// Logs whose `log_id` was already stored (kept as they were: first write wins).
    public var duplicates: Int

    public init(stored: Int = 0, duplicates: Int = 0) {
        self.stored = stored
        self.duplicates = duplicates
    }
}

/// A store failure; `transient` ones (unreachable, timeout, busy) are retried, others are not.
public struct StoreError: Error, Sendable, Hashable, CustomStringConvertible {
    public var transient: Bool
    /// A stable short code for headers, metrics and `logpipe dlq` filters: `store_unavailable` (could not
    /// reach or use the store), `store_not_primary` (a MongoDB replica set between primaries),
    /// `store_write_failed` (the store refused some documents for a passing reason), `store_rejected` (the
    /// store will never take the documents as they are).
    public var reason: String
    /// A short explanation without log contents.
    public var message: String

    public init(transient: Bool, reason: String? = nil, _ message: String) {
        self.transient = transient
        self.reason = reason ?? (transient ? "store_unavailable" : "store_rejected")
        self.message = message
    }

    public var description: String { "store \(transient ? "transient" : "permanent") error \(reason): \(message)" }
}
