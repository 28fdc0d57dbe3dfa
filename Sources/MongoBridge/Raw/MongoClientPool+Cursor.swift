import CMongoC

/// Reading a cursor in pages, for scans that stop early: documents come from the server in batches of
/// `batchSize` and are handed on in pages of the same size; when `body` returns false the cursor is destroyed,
/// which ends it on the server (killCursors), so the rest of a large result is never sent.
extension MongoClientPool {
    /// Documents matching `filter` in `sort` order, decoded field by field, a page at a time until `body` returns
    /// false or the cursor is exhausted. Blocks: call from a dedicated thread.
    public func forEachPage(
        database: String, collection: String, filter: [BSONField], sort: [BSONField] = [], batchSize: Int,
        _ body: ([[BSONField]]) throws -> Bool
    ) throws {
        try withClient { client in
            let handle = mongoc_client_get_collection(client, database, collection)!
            defer { mongoc_collection_destroy(handle) }
            let filterDocument = try BSONDocument(fields: filter)
            var options: [BSONField] = [BSONField("batchSize", .int32(Int32(clamping: batchSize)))]
            if !sort.isEmpty { options.append(BSONField("sort", .document(sort))) }
            let optionsDocument = try BSONDocument(fields: options)
            let cursor = mongoc_collection_find_with_opts(handle, filterDocument.pointer, optionsDocument.pointer, nil)!
            defer { mongoc_cursor_destroy(cursor) }
            var page: [[BSONField]] = []
            page.reserveCapacity(batchSize)
            var document: OpaquePointer?
            while mongoc_cursor_next(cursor, &document) {
                guard let document else { continue }
                page.append(BSONDocument.fields(of: document))
                if page.count >= batchSize {
                    guard try body(page) else { return }
                    page.removeAll(keepingCapacity: true)
                }
            }
            var error = bson_error_t()
            if mongoc_cursor_error(cursor, &error) { throw Self.safeError(error) }
            if !page.isEmpty { _ = try body(page) }
        }
    }
}
