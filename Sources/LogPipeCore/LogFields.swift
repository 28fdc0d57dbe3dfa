/// A log's optional fields, declared once. The client's ``LogInput``, the broker's ``LogRecord`` and the
/// ``StoredLog`` each hold them as `fields` and read them as their own members (`record.level`). Their JSON
/// names, their one JSON reader and writer, and the rules that the API and the worker both hold them to are
/// here, so a new optional field is this file, the stores' columns, and the redactor when it can carry PII.
public struct LogFields: Sendable, Hashable {
    /// When the event happened, as the client says (RFC 3339).
    public var timestamp: String?
    public var level: String?
    public var source: String?
    /// Flat: strings, numbers and booleans.
    public var attributes: [String: AttributeValue]?

    public init(
        timestamp: String? = nil, level: String? = nil, source: String? = nil, attributes: [String: AttributeValue]? = nil
    ) {
        self.timestamp = timestamp
        self.level = level
        self.source = source
        self.attributes = attributes
    }

    /// Their JSON member names, in the order the writer writes them.
    public static let names = ["timestamp", "level", "source", "attributes"]

    public static let maxLevelBytes = 32
    public static let maxSourceBytes = 256
    public static let maxAttributes = 64
    public static let maxAttributeKeyBytes = 128

    /// An attribute name a store can keep as a key: 1–128 bytes, no control characters (BSON keys are C strings).
    public static func isValidAttributeKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.count <= maxAttributeKeyBytes && key.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
    }

    /// Reads the value of member `key` when it is one of these fields (`null` leaves the field unset); false when
    /// it is not one of them. A value of another type is `.type`, with the scanner where it was.
    public mutating func read(_ key: String, _ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> Bool {
        func string(_ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> String? {
            try scanner.isNull() ? nil : scanner.string()
        }
        switch key {
        case "timestamp": timestamp = try string(&scanner)
        case "level": level = try string(&scanner)
        case "source": source = try string(&scanner)
        case "attributes":
            if try scanner.isNull() {
                attributes = nil
            } else {
                // On a type error inside the object, the caller gets the scanner back where the object began.
                var probe = scanner
                attributes = try AttributeValue.readObject(&probe)
                scanner = probe
            }
        default: return false
        }
        return true
    }

    /// `,"name":value` for each field that is set, in the order of ``names``.
    public func appendJSON(to output: inout [UInt8]) {
        func member(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            output.append(UInt8(ascii: ","))
            JSONWriting.appendKey(key, to: &output)
            JSONWriting.appendString(value, to: &output)
        }
        member("timestamp", timestamp)
        member("level", level)
        member("source", source)
        if let attributes {
            output.append(UInt8(ascii: ","))
            JSONWriting.appendKey("attributes", to: &output)
            JSONWriting.appendAttributes(attributes, to: &output)
        }
    }

    /// The first rule these fields break beside `text`, as the API answers it, or nil. The worker holds every
    /// work message's logs to the same rules (``WorkValidation``) and parks a log that breaks one, naming the
    /// field.
    public func violation(text: String, maxLogBytes: Int) -> (field: String, error: IngestError)? {
        if let timestamp, !RFC3339.isValid(timestamp) {
            return ("timestamp", IngestError(.invalidTimestamp, "field 'timestamp' must be an RFC 3339 date-time such as 2026-01-31T12:00:00Z"))
        }
        if let level, level.isEmpty || level.utf8.count > Self.maxLevelBytes {
            return ("level", IngestError(.invalidField, "field 'level' must be 1–\(Self.maxLevelBytes) bytes"))
        }
        if let source, source.isEmpty || source.utf8.count > Self.maxSourceBytes {
            return ("source", IngestError(.invalidField, "field 'source' must be 1–\(Self.maxSourceBytes) bytes"))
        }
        if let attributes {
            guard attributes.count <= Self.maxAttributes else {
                return ("attributes", IngestError(.invalidAttributes, "field 'attributes' may hold at most \(Self.maxAttributes) entries"))
            }
            guard attributes.keys.allSatisfy({ !$0.isEmpty && $0.utf8.count <= Self.maxAttributeKeyBytes }) else {
                return ("attributes", IngestError(.invalidAttributes, "attribute names must be 1–\(Self.maxAttributeKeyBytes) bytes"))
            }
            // Stores keep names as keys (BSON keys are C strings): control characters, NUL among them, are refused.
            guard attributes.keys.allSatisfy({ $0.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F } }) else {
                return ("attributes", IngestError(.invalidAttributes, "attribute names must not hold control characters"))
            }
            // One log, text and attributes together, within the limit.
            let size = Self.storedSize(text: text, attributes: attributes)
            guard size <= maxLogBytes else {
                return ("size", IngestError(.logTooLarge, "the log's text and attributes are \(size) bytes; the limit is \(maxLogBytes)"))
            }
        }
        return nil
    }

    /// About how many bytes a log's text and attributes take stored: what the shippers' records are held to
    /// (`maxLogBytes`), since their shared attributes are copied into every record.
    public static func storedSize(text: String, attributes: [String: AttributeValue]) -> Int {
        text.utf8.count
            + attributes.reduce(0) { total, pair in
                if case .string(let value) = pair.value { return total + pair.key.utf8.count + value.utf8.count + 8 }
                return total + pair.key.utf8.count + 24
            }
    }

    /// The same members in a `Codable` container of the log that holds them (its JSON stays flat).
    enum CodingKeys: String, CodingKey {
        case timestamp, level, source, attributes
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            timestamp: try container.decodeIfPresent(String.self, forKey: .timestamp),
            level: try container.decodeIfPresent(String.self, forKey: .level),
            source: try container.decodeIfPresent(String.self, forKey: .source),
            attributes: try container.decodeIfPresent([String: AttributeValue].self, forKey: .attributes))
    }

    /// A log's own `members`, then `fields`, in one flat JSON object: how the logs that hold fields encode.
    static func encode<Key: CodingKey>(_ members: [(Key, any Encodable)], beside fields: LogFields, to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Key.self)
        for (key, value) in members { try container.encode(value, forKey: key) }
        try fields.encode(to: encoder)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(timestamp, forKey: .timestamp)
        try container.encodeIfPresent(level, forKey: .level)
        try container.encodeIfPresent(source, forKey: .source)
        try container.encodeIfPresent(attributes, forKey: .attributes)
    }
}

/// A log type that holds ``LogFields`` and reads them as its own members.
public protocol HasLogFields {
    var fields: LogFields { get set }
}

extension HasLogFields {
    @inlinable
    public subscript<Value>(dynamicMember path: WritableKeyPath<LogFields, Value>) -> Value {
        get { fields[keyPath: path] }
        set { fields[keyPath: path] = newValue }
    }
}
