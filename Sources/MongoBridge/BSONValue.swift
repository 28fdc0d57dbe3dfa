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
    case document([BSONField])
}
