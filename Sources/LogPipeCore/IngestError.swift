/// A rejected or failed ingestion, as the API reports it: an HTTP status, a stable snake_case code and a
/// message a person can act on. Messages name fields and limits, never log contents.
public struct IngestError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable error code; clients may switch on it.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        public let rawValue: String
        /// The HTTP status this code is answered with.
        public let status: Int
        init(_ rawValue: String, _ status: Int) {
            self.rawValue = rawValue
            self.status = status
        }
        public var description: String { rawValue }

        // 400
        public static let invalidJSON = Code("invalid_json", 400)
        public static let invalidBody = Code("invalid_body", 400)
        public static let unknownField = Code("unknown_field", 400)
        public static let invalidField = Code("invalid_field", 400)
        public static let missingText = Code("missing_text", 400)
        public static let missingTenantID = Code("missing_tenant_id", 400)
        public static let invalidTenantID = Code("invalid_tenant_id", 400)
        public static let reservedTenant = Code("reserved_tenant", 400)
        public static let tenantMismatch = Code("tenant_mismatch", 400)
        public static let invalidLogID = Code("invalid_log_id", 400)
        public static let invalidTimestamp = Code("invalid_timestamp", 400)
        public static let invalidAttributes = Code("invalid_attributes", 400)
        public static let invalidUTF8 = Code("invalid_utf8", 400)
        public static let invalidBatch = Code("invalid_batch", 400)
        public static let emptyBatch = Code("empty_batch", 400)
        public static let invalidGzip = Code("invalid_gzip", 400)
        /// `POST /v1/logs`: the body is not an OTLP `ExportLogsServiceRequest` in the declared encoding.
        public static let invalidOTLP = Code("invalid_otlp", 400)
        /// `POST /loki/api/v1/push`: the body is not a Loki push in the declared encoding.
        public static let invalidLoki = Code("invalid_loki", 400)
        // 401, 403
        public static let missingAPIKey = Code("missing_api_key", 401)
        public static let invalidAPIKey = Code("invalid_api_key", 401)
        public static let tenantNotAllowed = Code("tenant_not_allowed", 403)
        // 404, 405
        public static let notFound = Code("not_found", 404)
        public static let methodNotAllowed = Code("method_not_allowed", 405)
        // 408
        public static let requestTimeout = Code("request_timeout", 408)
        // 413
        public static let requestTooLarge = Code("request_too_large", 413)
        public static let logTooLarge = Code("log_too_large", 413)
        public static let lineTooLarge = Code("line_too_large", 413)
        public static let tooManyLogs = Code("too_many_logs", 413)
        // 415
        public static let unsupportedMediaType = Code("unsupported_media_type", 415)
        public static let unsupportedEncoding = Code("unsupported_encoding", 415)
        // 429
        public static let rateLimited = Code("rate_limited", 429)
        // 503
        public static let brokerUnavailable = Code("broker_unavailable", 503)
        public static let confirmTimeout = Code("confirm_timeout", 503)
        public static let brokerRejected = Code("broker_rejected", 503)
        public static let unroutable = Code("unroutable", 503)
        public static let brokerBlocked = Code("broker_blocked", 503)
        public static let brokerBacklog = Code("broker_backlog", 503)
        // 500
        public static let internalError = Code("internal_error", 500)
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
    private var retryAfter: Int?

    public static let maxLineErrors = 100

    public init(_ code: Code, _ message: String, lineErrors: [LineError] = [], retryAfterSeconds: Int? = nil) {
        self.code = code
        self.message = message
        self.lineErrors = lineErrors
        self.retryAfter = retryAfterSeconds
    }

    public var status: Int { code.status }
    public var description: String { "\(code): \(message)" }

    /// Seconds a client should wait before retrying: for 429 the time until the tenant's budget allows the
    /// request, for 503 one second.
    public var retryAfterSeconds: Int? { retryAfter ?? (code.status == 503 ? 1 : nil) }
}
