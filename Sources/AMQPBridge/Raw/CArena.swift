import CRabbitMQ
import Glibc

/// Owns the C memory (strings, tables) built for one rabbitmq-c call and frees it when released.
///
/// Used on the connection thread only, within the call it was made for. Callers keep it alive across the C
/// call with `defer { withExtendedLifetime(arena) {} }`: Swift may otherwise free it right after its last
/// use in Swift code, before rabbitmq-c reads the memory.
final class CArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit { for pointer in allocations { free(pointer) } }

    private func allocate(_ size: Int) -> UnsafeMutableRawPointer {
        let pointer = malloc(max(size, 1))!
        allocations.append(pointer)
        return pointer
    }

    /// A copy of the string's UTF-8 bytes, not NUL-terminated (AMQP strings carry their length).
    func bytes(_ string: String) -> amqp_bytes_t {
        var string = string
        return string.withUTF8 { utf8 in
            let pointer = allocate(utf8.count)
            if let base = utf8.baseAddress { pointer.copyMemory(from: base, byteCount: utf8.count) }
            return amqp_bytes_t(len: utf8.count, bytes: pointer)
        }
    }

    /// A field table; keys are sorted so that the encoding is deterministic.
    func table(_ fields: [String: AMQPFieldValue]) -> amqp_table_t {
        guard !fields.isEmpty else { return amqp_empty_table }
        let entries = allocate(MemoryLayout<amqp_table_entry_t>.stride * fields.count)
            .bindMemory(to: amqp_table_entry_t.self, capacity: fields.count)
        var count: Int32 = 0
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            guard let field = field(value) else { continue }
            entries[Int(count)] = amqp_table_entry_t(key: bytes(key), value: field)
            count += 1
        }
        return amqp_table_t(num_entries: count, entries: entries)
    }

    /// One field value; `nil` for a kind the bridge does not model (it is left out).
    private func field(_ value: AMQPFieldValue) -> amqp_field_value_t? {
        var field = amqp_field_value_t()
        switch value {
        case .string(let text):
            field.kind = UInt8(ascii: "S")
            field.value.bytes = bytes(text)
        case .int(let number):
            field.kind = UInt8(ascii: "l")
            field.value.i64 = number
        case .bool(let flag):
            field.kind = UInt8(ascii: "t")
            field.value.boolean = flag ? 1 : 0
        case .table(let nested):
            field.kind = UInt8(ascii: "F")
            field.value.table = table(nested)
        case .array(let elements):
            let fields = elements.compactMap(self.field)
            let storage = allocate(MemoryLayout<amqp_field_value_t>.stride * max(1, fields.count))
                .bindMemory(to: amqp_field_value_t.self, capacity: max(1, fields.count))
            for (index, element) in fields.enumerated() { storage[index] = element }
            field.kind = UInt8(ascii: "A")
            field.value.array = amqp_array_t(num_entries: Int32(fields.count), entries: storage)
        case .other:
            return nil
        }
        return field
    }

    /// Basic properties with the flags of the fields that are set.
    func properties(_ properties: AMQPProperties) -> amqp_basic_properties_t {
        var props = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let value = properties.contentType { props.content_type = bytes(value); flags |= 1 << 15 }
        if let value = properties.contentEncoding { props.content_encoding = bytes(value); flags |= 1 << 14 }
        if !properties.headers.isEmpty { props.headers = table(properties.headers); flags |= 1 << 13 }
        if let value = properties.deliveryMode { props.delivery_mode = value; flags |= 1 << 12 }
        if let value = properties.correlationID { props.correlation_id = bytes(value); flags |= 1 << 10 }
        if let value = properties.messageID { props.message_id = bytes(value); flags |= 1 << 7 }
        if let value = properties.timestamp { props.timestamp = value; flags |= 1 << 6 }
        props._flags = flags
        return props
    }
}

// MARK: - Decoding C values into Swift values

extension amqp_bytes_t {
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }

    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }
}

extension AMQPProperties {
    init(_ props: amqp_basic_properties_t) {
        self.init()
        let flags = props._flags
        if flags & (1 << 15) != 0 { contentType = props.content_type.string }
        if flags & (1 << 14) != 0 { contentEncoding = props.content_encoding.string }
        if flags & (1 << 13) != 0 { headers = Self.decode(props.headers) }
        if flags & (1 << 12) != 0 { deliveryMode = props.delivery_mode }
        if flags & (1 << 10) != 0 { correlationID = props.correlation_id.string }
        if flags & (1 << 7) != 0 { messageID = props.message_id.string }
        if flags & (1 << 6) != 0 { timestamp = props.timestamp }
    }

    private static func decode(_ table: amqp_table_t) -> [String: AMQPFieldValue] {
        guard table.num_entries > 0, let entries = table.entries else { return [:] }
        var result: [String: AMQPFieldValue] = [:]
        for index in 0..<Int(table.num_entries) {
            let entry = entries[index]
            result[entry.key.string] = decode(entry.value)
        }
        return result
    }

    private static func decode(_ value: amqp_field_value_t) -> AMQPFieldValue {
        switch value.kind {
        case UInt8(ascii: "S"), UInt8(ascii: "x"): .string(value.value.bytes.string)
        case UInt8(ascii: "t"): .bool(value.value.boolean != 0)
        case UInt8(ascii: "b"): .int(Int64(value.value.i8))
        case UInt8(ascii: "B"): .int(Int64(value.value.u8))
        case UInt8(ascii: "s"): .int(Int64(value.value.i16))
        case UInt8(ascii: "u"): .int(Int64(value.value.u16))
        case UInt8(ascii: "I"): .int(Int64(value.value.i32))
        case UInt8(ascii: "i"): .int(Int64(value.value.u32))
        case UInt8(ascii: "l"): .int(value.value.i64)
        case UInt8(ascii: "T"): .int(Int64(bitPattern: value.value.u64))
        case UInt8(ascii: "F"): .table(decode(value.value.table))
        case UInt8(ascii: "A"):
            // `x-death` is an array of tables (why and where a message was dead-lettered).
            .array(
                value.value.array.entries.map { entries in
                    (0..<Int(max(0, value.value.array.num_entries))).map { decode(entries[$0]) }
                } ?? [])
        default: .other(kind: value.kind)
        }
    }
}
