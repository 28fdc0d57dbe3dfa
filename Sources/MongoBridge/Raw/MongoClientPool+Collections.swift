import CMongoC
import Foundation

/// The outcome of an unordered bulk insert.
public struct MongoInsertResult: Sendable, Hashable {
    public struct WriteError: Sendable, Hashable {
        /// Index of the document in the request.
        public var index: Int
        /// The server's code (11000 for a duplicate key).
        public var code: Int
        public var message: String
    }

    public var inserted: Int
    public var writeErrors: [WriteError]
}

/// Collection operations with documents as ``BSONField`` lists or (relaxed extended) JSON text, so no C type
/// leaves the bridge.
/// Every method blocks: call them from a dedicated thread.
extension MongoClientPool {
    /// Inserts documents in one unordered bulk operation with the given write concern (`"majority"`, `"1"`…).
    /// Per-document failures (such as duplicate keys) come back in `writeErrors`; a failure of the whole
    /// operation (unreachable server, write concern error, a part of a split bulk lost) throws.
    public func insertMany(database: String, collection: String, documents: [String], writeConcern: String) throws -> MongoInsertResult {
        try insertMany(database: database, collection: collection, count: documents.count, writeConcern: writeConcern) { index in
            try BSONDocument(json: documents[index])
        }
    }

    /// The same with documents built field by field (``BSONField``): what the store writes.
    public func insertMany(database: String, collection: String, documents: [[BSONField]], writeConcern: String) throws -> MongoInsertResult {
        try insertMany(database: database, collection: collection, count: documents.count, writeConcern: writeConcern) { index in
            try BSONDocument(fields: documents[index])
        }
    }

    private func insertMany(
        database: String, collection: String, count: Int, writeConcern: String,
        document: (Int) throws -> BSONDocument
    ) throws -> MongoInsertResult {
        try withClient { client in
            let handle = mongoc_client_get_collection(client, database, collection)!
            defer { mongoc_collection_destroy(handle) }
            let w: BSONValue = Int32(writeConcern).map { .int32($0) } ?? .string(writeConcern)  // libmongoc wants an int32
            let options = try BSONDocument(fields: [
                BSONField("ordered", .bool(false)),
                BSONField("writeConcern", .document([BSONField("w", w)])),
            ])
            let bulk = mongoc_collection_create_bulk_operation_with_opts(handle, options.pointer)!
            defer { mongoc_bulk_operation_destroy(bulk) }
            var error = bson_error_t()
            for index in 0..<count {
                let built = try document(index)
                guard mongoc_bulk_operation_insert_with_opts(bulk, built.pointer, nil, &error) else { throw Self.error(error) }
            }
            let reply = BSONDocument.reply()
            let server = mongoc_bulk_operation_execute(bulk, reply.pointer, &error)
            // The reply decoded field by field (no JSON in between).
            let parsed = reply.fields
            let writeErrors = Self.documents(parsed["writeErrors"]).map { entry in
                MongoInsertResult.WriteError(
                    index: entry["index"]?.integer.map(Int.init) ?? -1, code: entry["code"]?.integer.map(Int.init) ?? 0,
                    message: Self.safeMessage(entry["errmsg"]?.text ?? ""))
            }
            // libmongoc fills `error` from the first write error whenever there are any, even when a part of a bulk
            // it split failed as a whole afterwards (at the network): with write errors, only the accounting tells. So
            // the operation's own error counts when there are no write errors; with write errors, every document
            // must be accounted for as inserted or as a write error, whatever their codes (a duplicate key beside
            // a document the server refuses, in either order, comes back per document for the caller to judge).
            let inserted = parsed["nInserted"]?.integer.map(Int.init) ?? 0
            if server == 0, writeErrors.isEmpty { throw Self.safeError(error) }
            if !writeErrors.isEmpty, inserted + writeErrors.count != count {
                throw MongoError(.server, "the bulk insert accounted for \(inserted + writeErrors.count) of \(count) documents")
            }
            if let concern = Self.documents(parsed["writeConcernErrors"]).first {
                throw MongoError(
                    .server, "write concern error: \(Self.safeMessage(concern["errmsg"]?.text ?? ""))",
                    serverCode: concern["code"]?.integer.flatMap { UInt32(exactly: $0) })
            }
            return MongoInsertResult(inserted: inserted, writeErrors: writeErrors)
        }
    }

    /// Documents matching `filter`, in `sort` order, at most `limit` (0 = no limit), as relaxed JSON.
    public func find(database: String, collection: String, filter: String, sort: String? = nil, limit: Int = 0) throws -> [String] {
        try withClient { client in
            let handle = mongoc_client_get_collection(client, database, collection)!
            defer { mongoc_collection_destroy(handle) }
            let filterDocument = try BSONDocument(json: filter)
            var options: [BSONField] = []
            if let sort { options.append(BSONField("sort", .document(try BSONDocument(json: sort).fields))) }
            if limit > 0 { options.append(BSONField("limit", .int64(Int64(limit)))) }
            let optionsDocument = try BSONDocument(fields: options)
            let cursor = mongoc_collection_find_with_opts(handle, filterDocument.pointer, optionsDocument.pointer, nil)!
            defer { mongoc_cursor_destroy(cursor) }
            var results: [String] = []
            var document: OpaquePointer?
            while mongoc_cursor_next(cursor, &document) {
                guard let document else { continue }
                var length = 0
                if let text = bson_as_relaxed_extended_json(document, &length) {
                    results.append(String(cString: text))
                    bson_free(text)
                }
            }
            var error = bson_error_t()
            if mongoc_cursor_error(cursor, &error) { throw Self.safeError(error) }
            return results
        }
    }

    /// Documents matching `filter`, in `sort` order, at most `limit` (0 = no limit), decoded field by field (dates
    /// stay dates; nothing goes through JSON).
    public func find(database: String, collection: String, filter: [BSONField], sort: [BSONField] = [], limit: Int = 0) throws -> [[BSONField]] {
        try withClient { client in
            let handle = mongoc_client_get_collection(client, database, collection)!
            defer { mongoc_collection_destroy(handle) }
            let filterDocument = try BSONDocument(fields: filter)
            var options: [BSONField] = []
            if !sort.isEmpty { options.append(BSONField("sort", .document(sort))) }
            if limit > 0 { options.append(BSONField("limit", .int64(Int64(limit)))) }
            let optionsDocument = try BSONDocument(fields: options)
            let cursor = mongoc_collection_find_with_opts(handle, filterDocument.pointer, optionsDocument.pointer, nil)!
            defer { mongoc_cursor_destroy(cursor) }
            var results: [[BSONField]] = []
            var document: OpaquePointer?
            while mongoc_cursor_next(cursor, &document) {
                guard let document else { continue }
                results.append(BSONDocument.fields(of: document))
            }
            var error = bson_error_t()
            if mongoc_cursor_error(cursor, &error) { throw Self.safeError(error) }
            return results
        }
    }

    /// Runs a command built field by field and returns its reply decoded. A command the server refuses throws,
    /// with the server's code in ``MongoError/serverCode``.
    public func command(database: String, _ fields: [BSONField]) throws -> [BSONField] {
        try withClient { client in
            let command = try BSONDocument(fields: fields)
            let reply = BSONDocument.reply()
            var error = bson_error_t()
            guard mongoc_client_command_simple(client, database, command.pointer, nil, reply.pointer, &error) else {
                throw Self.safeError(error)
            }
            return reply.fields
        }
    }

    /// The indexes of a collection as the server lists them (`key`, `name`, `expireAfterSeconds`, …); empty
    /// when the collection does not exist yet.
    public func listIndexes(database: String, collection: String) throws -> [[BSONField]] {
        let reply: [BSONField]
        do {
            reply = try command(database: database, [BSONField("listIndexes", .string(collection))])
        } catch let error as MongoError where error.serverCode == 26 {  // NamespaceNotFound
            return []
        }
        guard case .document(let cursor)? = reply["cursor"], case .array(let batch)? = cursor["firstBatch"] else { return [] }
        return batch.compactMap { if case .document(let index) = $0 { index } else { nil } }
    }

    /// Runs a command and returns its reply as relaxed JSON (`{"count": …}`, `{"listCollections": 1}`, …).
    public func command(database: String, _ json: String) throws -> String {
        try withClient { client in
            let command = try BSONDocument(json: json)
            let reply = BSONDocument.reply()
            var error = bson_error_t()
            guard mongoc_client_command_simple(client, database, command.pointer, nil, reply.pointer, &error) else {
                throw Self.safeError(error)
            }
            return reply.json
        }
    }

    /// How many documents of a collection match `filter` (the `count` command; 0 for a missing collection).
    public func count(database: String, collection: String, filter: [BSONField] = []) throws -> Int {
        let reply = try command(database: database, [BSONField("count", .string(collection)), BSONField("query", .document(filter))])
        return reply["n"]?.integer.map(Int.init) ?? 0
    }

    /// The documents of an array value (a reply's `writeErrors`); empty when absent.
    static func documents(_ value: BSONValue?) -> [[BSONField]] {
        guard case .array(let items)? = value else { return [] }
        return items.compactMap { if case .document(let fields) = $0 { fields } else { nil } }
    }

    /// A driver error of a write or a read, its message cut before anything it quotes (``safeMessage(_:)``).
    static func safeError(_ error: bson_error_t) -> MongoError {
        var failure = Self.error(error)
        failure.message = safeMessage(failure.message)
        return failure
    }

    /// Server messages can quote a duplicate key (a log id is not PII, but a document value might be): keep
    /// the part before any `dup key:` / `{`.
    static func safeMessage(_ message: String) -> String {
        var text = Substring(message)
        if let range = text.range(of: " dup key") { text = text[..<range.lowerBound] }
        if let brace = text.firstIndex(of: "{") { text = text[..<brace] }
        return String(text).trimmingCharacters(in: .whitespaces)
    }
}

extension BSONDocument {
    /// A document parsed from (extended) JSON.
    convenience init(json: String) throws {
        var error = bson_error_t()
        let bytes = Array(json.utf8)
        guard let pointer = bytes.withUnsafeBufferPointer({ bson_new_from_json($0.baseAddress, $0.count, &error) }) else {
            throw MongoError(.server, "invalid document JSON: \(error.text)")
        }
        self.init(adopting: pointer)
    }
}
