/// A document built field by field and handed to libbson as such: no JSON text in between, so keys such as
/// `$x` or `a.b` and values such as `{"$numberLong": "5"}` stay plain data (libbson's JSON reader would take
/// them as extended JSON), and nothing a document holds can end up in a parser's error message.
public struct BSONField: Sendable, Hashable {
    public var key: String
    public var value: BSONValue

    public init(_ key: String, _ value: BSONValue) {
        self.key = key
        self.value = value
    }
}

public indirect enum BSONValue: Sendable, Hashable {
    case string(String)
    case int32(Int32)
    case int64(Int64)
    case double(Double)
    case bool(Bool)
    /// A UTC date-time: milliseconds since the Unix epoch.
    case date(Int64)
    case document([BSONField])
    case array([BSONValue])
    case null
    /// A value of another BSON type, read but not decoded (its type number).
    case other(UInt32)
}

extension Array where Element == BSONField {
    /// The value of the first field named `key`.
    public subscript(key: String) -> BSONValue? {
        first { $0.key == key }?.value
    }
}

extension BSONValue {
    /// The value when it is a string.
    public var text: String? {
        if case .string(let value) = self { value } else { nil }
    }

    /// The value as an integer, whichever BSON number type holds it (a double only when whole).
    public var integer: Int64? {
        switch self {
        case .int32(let value): Int64(value)
        case .int64(let value): value
        case .double(let value): value.rounded() == value && abs(value) < 9e15 ? Int64(value) : nil
        default: nil
        }
    }
}
