/// One log as stored (docs/operations.md): redacted text, redaction counts and the record's stamps. The raw text is
/// never part of it.
@dynamicMemberLookup
public struct StoredLog: Sendable, Hashable, Encodable, HasLogFields {
    public var logID: String
    public var tenantID: TenantID
    /// The redacted text.
    public var text: String
    /// Matches per type, e.g. `["EMAIL": 1]`; empty when nothing was redacted.
    public var redactions: [String: Int]
    public var receivedAt: String
    public var processedAt: String
    public var requestID: String
    /// Redacted, and `timestamp` in the stores' one form (``canonicalTime(_:)``).
    public var fields: LogFields

    public init(
        logID: String, tenantID: TenantID, text: String, redactions: [String: Int], receivedAt: String,
        processedAt: String, requestID: String, fields: LogFields = LogFields()
    ) {
        self.logID = logID
        self.tenantID = tenantID
        self.text = text
        self.redactions = redactions
        self.receivedAt = receivedAt
        self.processedAt = processedAt
        self.requestID = requestID
        self.fields = fields
    }

    /// Redacts a record into the document to store.
    public init(record: LogRecord, redactor: Redactor, processedAt: UnixTime) {
        self.init(record: record, redactor: redactor, processedAtStamp: processedAt.rfc3339)
    }

    /// With the processing time already rendered (a batch shares one).
    public init(record: LogRecord, redactor: Redactor, processedAtStamp: String) {
        var redacted = redactor.redact(fields: record)
        redacted.fields.timestamp = record.fields.timestamp.map(Self.canonicalTime)
        self.init(
            logID: record.logID, tenantID: record.tenantID, text: redacted.text, redactions: redacted.counts,
            receivedAt: record.receivedAt, processedAt: processedAtStamp, requestID: redacted.requestID,
            fields: redacted.fields)
    }

    /// An RFC 3339 time in the stores' one sortable form (`YYYY-MM-DDTHH:MM:SS.mmmZ`, UTC, milliseconds), so
    /// that SQLite compares it as text and MongoDB holds it as a date; a text that is not RFC 3339 (a message
    /// of an older API) is kept as it is.
    public static func canonicalTime(_ text: String) -> String {
        UnixTime(rfc3339: text)?.rfc3339 ?? text
    }

    enum CodingKeys: String, CodingKey {
        case logID = "log_id"
        case tenantID = "tenant_id"
        case text, redactions
        case receivedAt = "received_at"
        case processedAt = "processed_at"
        case requestID = "request_id"
    }

    public func encode(to encoder: any Encoder) throws {
        let members: [(CodingKeys, any Encodable)] = [
            (.logID, logID), (.tenantID, tenantID), (.text, text), (.redactions, redactions), (.receivedAt, receivedAt),
            (.processedAt, processedAt), (.requestID, requestID),
        ]
        try LogFields.encode(members, beside: fields, to: encoder)
    }
}
