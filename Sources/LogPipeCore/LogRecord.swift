/// The value of one entry of a log's `attributes`: a string, a number or a boolean.
public enum AttributeValue: Sendable, Hashable, Codable {
    case string(String)
    case int(Int64)
    case double(Double)
    case bool(Bool)

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Bool.self) { self = .bool(value); return }
        if let value = try? container.decode(Int64.self) { self = .int(value); return }
        if let value = try? container.decode(Double.self) { self = .double(value); return }
        if let value = try? container.decode(String.self) { self = .string(value); return }
        throw DecodingError.typeMismatch(
            AttributeValue.self,
            .init(
                codingPath: decoder.codingPath,
                debugDescription: "an attribute must be a string, a number or a boolean"))
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .string(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .bool(let value): try container.encode(value)
        }
    }
}

/// One log as it travels on the broker (docs/architecture.md, schema version 1).
@dynamicMemberLookup
public struct LogRecord: Sendable, Hashable, Codable, HasLogFields {
    public static let schemaVersion = 1

    public var v: Int
    public var tenantID: TenantID
    public var logID: String
    public var text: String
    /// When the API accepted the log (RFC 3339, UTC, milliseconds).
    public var receivedAt: String
    public var requestID: String
    public var fields: LogFields

    public init(
        tenantID: TenantID, logID: String, text: String, receivedAt: String, requestID: String, fields: LogFields = LogFields()
    ) {
        self.v = Self.schemaVersion
        self.tenantID = tenantID
        self.logID = logID
        self.text = text
        self.receivedAt = receivedAt
        self.requestID = requestID
        self.fields = fields
    }

    enum CodingKeys: String, CodingKey {
        case v
        case tenantID = "tenant_id"
        case logID = "log_id"
        case text
        case receivedAt = "received_at"
        case requestID = "request_id"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        v = try container.decode(Int.self, forKey: .v)
        tenantID = try container.decode(TenantID.self, forKey: .tenantID)
        logID = try container.decode(String.self, forKey: .logID)
        text = try container.decode(String.self, forKey: .text)
        receivedAt = try container.decode(String.self, forKey: .receivedAt)
        requestID = try container.decode(String.self, forKey: .requestID)
        fields = try LogFields(from: decoder)
    }

    public func encode(to encoder: any Encoder) throws {
        let members: [(CodingKeys, any Encodable)] = [
            (.v, v), (.tenantID, tenantID), (.logID, logID), (.text, text), (.receivedAt, receivedAt), (.requestID, requestID),
        ]
        try LogFields.encode(members, beside: fields, to: encoder)
    }
}

/// The body of a work message: one log (`{"v":1,"tenant_id",…}`) or a chunk of one tenant's logs from a
/// batch (`{"v":1,"batch":[…]}`); either way every log keeps its own `log_id` (docs/architecture.md). Read with
/// ``parse(_:)`` (JSON/WorkBodyParser.swift), written with ``LogRecord/appendJSON(to:)`` and ``batch(_:)``.
public enum WorkBody {
    /// Encodes a chunk from records encoded one by one (so that the caller can bound the chunk's size).
    public static func batch(_ encodedRecords: [[UInt8]]) -> [UInt8] {
        var body: [UInt8] = Array(#"{"v":1,"batch":["#.utf8)
        body.reserveCapacity(encodedRecords.reduce(16) { $0 + $1.count + 1 })
        for (index, record) in encodedRecords.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: record)
        }
        body.append(contentsOf: Array("]}".utf8))
        return body
    }
}
