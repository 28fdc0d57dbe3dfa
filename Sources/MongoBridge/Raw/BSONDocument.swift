import CMongoC

/// A heap-allocated `bson_t` (Swift imports `bson_t` with the wrong alignment, so it is never a Swift value).
///
/// Not thread-safe; owned by the one call that made it.
final class BSONDocument {
    let pointer: OpaquePointer

    /// A new, empty document (`bson_new`).
    init() {
        pointer = bson_new()
    }

    /// Takes ownership of a document the library allocated (such as `bson_new_from_json`'s).
    init(adopting pointer: OpaquePointer) {
        self.pointer = pointer
    }

    /// Storage for an out-parameter such as a command reply: 128-byte aligned, initialised by the driver.
    private init(uninitialisedReply: ()) {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 512, alignment: 128)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: 512)
        pointer = OpaquePointer(raw)
        ownsStorage = true
        // A valid, static, empty document even if the driver never writes it: bson_destroy then frees nothing.
        bson_init(pointer)
    }

    private var ownsStorage = false

    static func reply() -> BSONDocument { BSONDocument(uninitialisedReply: ()) }

    deinit {
        bson_destroy(pointer)
        if ownsStorage { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    func append(_ key: String, int32 value: Int32) {
        bson_append_int32(pointer, key, -1, value)
    }

    func append(_ key: String, string value: String) {
        bson_append_utf8(pointer, key, -1, value, Int32(value.utf8.count))
    }

    /// A document of `fields`, in order. Throws when a key holds a NUL byte (BSON keys are C strings) or
    /// libbson refuses a field (the document would pass its size limit); the error names neither.
    convenience init(fields: [BSONField]) throws {
        self.init()
        for field in fields { try append(field) }
    }

    func append(_ field: BSONField) throws {
        let key = field.key
        guard !key.utf8.contains(0) else { throw MongoError(.invalidDocument, "a document key holds a NUL byte") }
        let keyLength = Int32(key.utf8.count)
        // `withCString` hands over the whole UTF-8 storage and a terminator; the explicit lengths keep values
        // with NUL bytes whole (BSON strings carry their length).
        let appended: Bool = key.withCString { name in
            switch field.value {
            case .string(let value):
                return value.withCString { bson_append_utf8(pointer, name, keyLength, $0, Int32(value.utf8.count)) }
            case .int32(let value): return bson_append_int32(pointer, name, keyLength, value)
            case .int64(let value): return bson_append_int64(pointer, name, keyLength, value)
            case .double(let value): return bson_append_double(pointer, name, keyLength, value)
            case .bool(let value): return bson_append_bool(pointer, name, keyLength, value)
            case .date(let milliseconds): return bson_append_date_time(pointer, name, keyLength, milliseconds)
            case .null: return bson_append_null(pointer, name, keyLength)
            case .document(let fields):
                guard let child = try? BSONDocument(fields: fields) else { return false }
                return bson_append_document(pointer, name, keyLength, child.pointer)
            case .array(let values):
                let elements = values.enumerated().map { BSONField(String($0.offset), $0.element) }
                guard let child = try? BSONDocument(fields: elements) else { return false }
                return bson_append_array(pointer, name, keyLength, child.pointer)
            case .other: return false
            }
        }
        guard appended else { throw MongoError(.invalidDocument, "libbson refused a field (document too large or key not valid)") }
    }

    /// The document's fields, decoded (types other than those of ``BSONValue`` come back as `.other`).
    var fields: [BSONField] { Self.fields(of: pointer) }

    /// The fields of a document the driver owns (such as a cursor's current one).
    static func fields(of document: OpaquePointer) -> [BSONField] {
        withIterator { iterator in
            guard bson_iter_init(iterator, document) else { return [] }
            return fields(iterator)
        }
    }

    /// `bson_iter_t` is declared 128-byte aligned, so Swift sees it as opaque: it lives in aligned heap storage.
    private static func withIterator<T>(_ body: (OpaquePointer) -> T) -> T {
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 256, alignment: 128)
        defer { raw.deallocate() }
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: 256)
        return body(OpaquePointer(raw))
    }

    private static func fields(_ iterator: OpaquePointer) -> [BSONField] {
        var fields: [BSONField] = []
        while bson_iter_next(iterator) {
            let key = String(cString: bson_iter_key(iterator))
            fields.append(BSONField(key, value(iterator)))
        }
        return fields
    }

    /// The value the iterator is at.
    private static func value(_ iterator: OpaquePointer) -> BSONValue {
        let type = bson_iter_type(iterator)
        switch type {
        case BSON_TYPE_UTF8:
            var length: UInt32 = 0
            guard let text = bson_iter_utf8(iterator, &length) else { return .string("") }
            return .string(String(decoding: UnsafeRawBufferPointer(start: text, count: Int(length)), as: UTF8.self))
        case BSON_TYPE_INT32: return .int32(bson_iter_int32(iterator))
        case BSON_TYPE_INT64: return .int64(bson_iter_int64(iterator))
        case BSON_TYPE_DOUBLE: return .double(bson_iter_double(iterator))
        case BSON_TYPE_BOOL: return .bool(bson_iter_bool(iterator))
        case BSON_TYPE_DATE_TIME: return .date(bson_iter_date_time(iterator))
        case BSON_TYPE_NULL: return .null
        case BSON_TYPE_DOCUMENT, BSON_TYPE_ARRAY:
            return withIterator { child in
                guard bson_iter_recurse(iterator, child) else { return .other(type.rawValue) }
                let children = fields(child)
                return type == BSON_TYPE_ARRAY ? .array(children.map(\.value)) : .document(children)
            }
        default: return .other(type.rawValue)
        }
    }

    /// Relaxed extended JSON, for diagnostics and tests.
    var json: String {
        var length = 0
        guard let text = bson_as_relaxed_extended_json(pointer, &length) else { return "{}" }
        defer { bson_free(text) }
        return String(cString: text)
    }
}

extension bson_error_t {
    /// The driver's message (a `char[504]` imported as a tuple).
    var text: String {
        withUnsafeBytes(of: message) { buffer in
            String(decoding: buffer.prefix { $0 != 0 }, as: UTF8.self)
        }
    }
}
