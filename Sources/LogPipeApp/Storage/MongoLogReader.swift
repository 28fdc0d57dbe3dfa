import LogPipeCore
import MongoBridge
import NIOPosix

/// The read side of the MongoDB store (the Loki read API): a `find` on the tenant's collection only, with a
/// filter on `received_at` (a range), `level`, `source` and `attributes.<key>` (equalities, an attribute in each
/// of the types its label value spells), sorted on `received_at` alone so that the collection's `received_at_1`
/// index serves both the range and the order; read in batches of the scan's page size, and ended on the server
/// as soon as the read API has what it needs. Line filters, and the label matchers a filter cannot express
/// (`!=`, regular expressions, label names made from other keys), are applied in Swift: no tenant-supplied
/// regular expression reaches the server.
///
/// libmongoc blocks, so scans run on a thread pool of their own, apart from the store's write threads.
public final class MongoLogReader: LogReader {
    let pool: MongoClientPool
    let database: String
    private let threads: NIOThreadPool

    public init(uri: String, database: String, threads count: Int = 2) throws(StoreError) {
        do {
            pool = try MongoClientPool(uri: uri, applicationName: "logpipe-read")
        } catch {
            throw StoreError(transient: false, "\(error)")
        }
        self.database = database
        threads = NIOThreadPool(numberOfThreads: count)
        threads.start()
    }

    deinit { threads.shutdownGracefully { _ in } }

    public func scan(tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(StoreError) {
        guard scan.endMilliseconds > scan.startMilliseconds else { return }
        let filter = Self.filter(scan)
        let sort = [BSONField("received_at", .int32(scan.newestFirst ? -1 : 1))]
        let filters = scan.lineFilters
        do {
            try await threads.runIfActive { [pool, database] in
                try pool.forEachPage(
                    database: database, collection: tenant.rawValue, filter: filter, sort: sort, batchSize: scan.pageSize
                ) { documents in
                    let logs = documents.compactMap { MongoLogStore.storedLog($0, tenant: tenant) }.filter { log in
                        filters.allSatisfy { $0.matches(log.text) }
                    }
                    return logs.isEmpty || visit(logs)
                }
            }
        } catch let error as MongoError {
            throw StoreError(transient: true, reason: error.isPrimaryChange ? "store_not_primary" : nil, "\(error)")
        } catch {
            throw StoreError(transient: true, "MongoDB read failed: \(type(of: error))")
        }
    }

    /// The `find` filter of a scan.
    static func filter(_ scan: LogScan) -> [BSONField] {
        var filter = [
            BSONField(
                "received_at",
                .document([BSONField("$gte", .date(scan.startMilliseconds)), BSONField("$lt", .date(scan.endMilliseconds))]))
        ]
        for equality in scan.equalities {
            switch equality.field {
            case .level: filter.append(BSONField("level", .string(equality.value)))
            case .source: filter.append(BSONField("source", .string(equality.value)))
            case .attribute(let key):
                // The key is a label name without `_` ([A-Za-z0-9]): no dot or `$` that could change the path.
                let forms: [BSONValue] = equality.attributeForms.map { form in
                    switch form {
                    case .string(let text): .string(text)
                    case .int(let number): .int64(number)
                    case .double(let number): .double(number)
                    case .bool(let flag): .bool(flag)
                    }
                }
                filter.append(BSONField("attributes.\(key)", .document([BSONField("$in", .array(forms))])))
            }
        }
        return filter
    }
}
