/// A log or a request that cannot be taken, in the domain's terms: a stable snake_case code and a message a
/// person can act on. Messages name fields and limits, never log contents. Which HTTP status answers a code
/// is the HTTP layer's decision (`LogPipeApp/HTTP/APIErrorStatus.swift`); the codes of failures that only the
/// API meets (authentication, routes, the broker) are declared there too.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code; clients may switch on it.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        // The log or the batch is malformed.
        public static let invalidJSON = Code("invalid_json")
        public static let invalidBody = Code("invalid_body")
        public static let unknownField = Code("unknown_field")
        public static let invalidField = Code("invalid_field")
        public static let missingText = Code("missing_text")
        public static let missingTenantID = Code("missing_tenant_id")
        public static let invalidTenantID = Code("invalid_tenant_id")
        public static let reservedTenant = Code("reserved_tenant")
        public static let tenantMismatch = Code("tenant_mismatch")
        public static let invalidLogID = Code("invalid_log_id")
        public static let invalidTimestamp = Code("invalid_timestamp")
        public static let invalidAttributes = Code("invalid_attributes")
        public static let invalidUTF8 = Code("invalid_utf8")
        public static let invalidBatch = Code("invalid_batch")
        public static let emptyBatch = Code("empty_batch")
        /// `POST /loki/api/v1/push`: the body is not a Loki push in the declared encoding.
        public static let invalidLoki = Code("invalid_loki")
        /// `POST /v1/logs`: the body is not an OTLP `ExportLogsServiceRequest` in the declared encoding.
        public static let invalidOTLP = Code("invalid_otlp")
        // The caller may not write this tenant.
        public static let tenantNotAllowed = Code("tenant_not_allowed")
        // Over a size limit.
        public static let requestTooLarge = Code("request_too_large")
        public static let logTooLarge = Code("log_too_large")
        public static let lineTooLarge = Code("line_too_large")
        public static let tooManyLogs = Code("too_many_logs")
        // The work was given up: the client went away, or the server is stopping.
        public static let requestAbandoned = Code("request_abandoned")

        /// The codes above, for tables that must cover each one.
        public static let domain: [Code] = [
            .invalidJSON, .invalidBody, .unknownField, .invalidField, .missingText, .missingTenantID, .invalidTenantID,
            .reservedTenant, .tenantMismatch, .invalidLogID, .invalidTimestamp, .invalidAttributes, .invalidUTF8,
            .invalidBatch, .emptyBatch, .invalidLoki, .invalidOTLP, .tenantNotAllowed, .requestTooLarge, .logTooLarge,
            .lineTooLarge, .tooManyLogs, .requestAbandoned,
        ]
    }

    /// What is wrong with one line of an NDJSON batch.
    public struct LineError: Sendable, Hashable {
        /// 1-based line number in the (decompressed) body.
        public var line: Int
        public var code: Code
        public var message: String

        public init(line: Int, code: Code, message: String) {
            self.line = line
            self.code = code
            self.message = message
        }
    }

    public var code: Code
    public var message: String
    /// For `invalid_batch`: the bad lines (at most ``maxLineErrors``), in order.
    public var lineErrors: [LineError]
    /// Seconds a client should wait before trying again, when the failure knows (a tenant's rate budget, a
    /// backlog's wait).
    public var retryAfterSeconds: Int?

    public static let maxLineErrors = 100

    public init(_ code: Code, _ message: String, lineErrors: [LineError] = [], retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.lineErrors = lineErrors
        self.retryAfterSeconds = retryAfterSeconds
    }

    public var description: String { "\(code): \(message)" }
}
