/// One log as a client submitted it, after validation, before the API stamps it.
public struct LogInput: Sendable, Hashable {
    public var tenantID: TenantID
    public var logID: String?
    public var text: String
    public var timestamp: String?
    public var level: String?
    public var source: String?
    public var attributes: [String: AttributeValue]?

    public init(tenantID: TenantID, logID: String? = nil, text: String, timestamp: String? = nil,
                level: String? = nil, source: String? = nil, attributes: [String: AttributeValue]? = nil) {
        self.tenantID = tenantID
        self.logID = logID
        self.text = text
        self.timestamp = timestamp
        self.level = level
        self.source = source
        self.attributes = attributes
    }

    /// The record to publish: the client's log id or a new UUIDv7, the receive time and the request id.
    public func record(requestID: String, receivedAt: UnixTime) -> LogRecord {
        LogRecord(tenantID: tenantID, logID: logID ?? LogID.generate(now: receivedAt), text: text,
                  receivedAt: receivedAt.rfc3339, requestID: requestID, timestamp: timestamp, level: level,
                  source: source, attributes: attributes)
    }
}
