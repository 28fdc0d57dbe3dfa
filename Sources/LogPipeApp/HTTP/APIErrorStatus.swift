import HTTPTypes
import LogPipeCore

/// The error codes only the API meets (its transport, its authentication, its routes, its broker), and the
/// HTTP status that answers every code, the core's included. The wire contract: docs/api.md, openapi.yaml.
extension IngestError.Code {
    // The request, before any log is read.
    public static let invalidGzip = Self("invalid_gzip")
    public static let unsupportedMediaType = Self("unsupported_media_type")
    public static let unsupportedEncoding = Self("unsupported_encoding")
    public static let requestTimeout = Self("request_timeout")
    /// The connection was refused at once: the server holds `LOGPIPE_MAX_CONNECTIONS` connections, or the
    /// client its `LOGPIPE_MAX_CONNECTIONS_PER_CLIENT`.
    public static let tooManyConnections = Self("too_many_connections")
    // Who is asking, and how often.
    public static let missingAPIKey = Self("missing_api_key")
    public static let invalidAPIKey = Self("invalid_api_key")
    public static let rateLimited = Self("rate_limited")
    // Routes.
    public static let notFound = Self("not_found")
    public static let methodNotAllowed = Self("method_not_allowed")
    // The broker did not take the logs: nothing was accepted, the client may send them again.
    public static let brokerUnavailable = Self("broker_unavailable")
    public static let confirmTimeout = Self("confirm_timeout")
    public static let brokerRejected = Self("broker_rejected")
    public static let unroutable = Self("unroutable")
    public static let brokerBlocked = Self("broker_blocked")
    public static let brokerBacklog = Self("broker_backlog")
    public static let internalError = Self("internal_error")

    /// Every code the API can answer with.
    public static let api: [Self] =
        domain + [
            .invalidGzip, .unsupportedMediaType, .unsupportedEncoding, .requestTimeout, .tooManyConnections, .missingAPIKey,
            .invalidAPIKey, .rateLimited, .notFound, .methodNotAllowed, .brokerUnavailable, .confirmTimeout,
            .brokerRejected, .unroutable, .brokerBlocked, .brokerBacklog, .internalError,
        ] + read

    /// The status this code is answered with; a test checks that every code in ``api`` has one.
    public var httpStatus: HTTPResponse.Status {
        Self.statuses[rawValue].map { HTTPResponse.Status(code: $0) } ?? .internalServerError
    }

    static let statuses: [String: Int] = {
        var table: [String: Int] = [:]
        func answer(_ status: Int, _ codes: Self...) { for code in codes { table[code.rawValue] = status } }
        answer(
            400, .invalidJSON, .invalidBody, .unknownField, .invalidField, .missingText, .missingTenantID,
            .invalidTenantID, .reservedTenant, .tenantMismatch, .invalidLogID, .invalidTimestamp, .invalidAttributes,
            .invalidUTF8, .invalidBatch, .emptyBatch, .invalidLoki, .invalidGzip, .invalidOTLP, .invalidQuery, .unsupportedQuery,
            .queryTooLarge)
        answer(401, .missingAPIKey, .invalidAPIKey)
        answer(403, .tenantNotAllowed, .scopeNotAllowed, .readNotAllowed)
        answer(404, .notFound)
        answer(405, .methodNotAllowed)
        answer(408, .requestTimeout)
        answer(413, .requestTooLarge, .logTooLarge, .lineTooLarge, .tooManyLogs)
        answer(415, .unsupportedMediaType, .unsupportedEncoding)
        answer(429, .rateLimited)
        answer(500, .internalError)
        answer(
            503, .storeUnavailable, .requestAbandoned, .tooManyConnections, .brokerUnavailable, .confirmTimeout, .brokerRejected, .unroutable, .brokerBlocked,
            .brokerBacklog)
        return table
    }()
}

extension IngestError {
    /// The HTTP status of this error's code.
    public var httpStatus: HTTPResponse.Status { code.httpStatus }

    /// What the `Retry-After` header says: the failure's own wait, else one second for a 503 (the broker
    /// usually comes back within it), else nothing.
    var retryAfterHeader: Int? { retryAfterSeconds ?? (httpStatus.code == 503 ? 1 : nil) }
}

extension IngestError {
    /// What a client is told when the broker did not take its logs: every case is a 503 the client may retry
    /// (resending stores nothing twice), and says whether the logs may already be queued.
    init(_ failure: PublishFailure) {
        switch failure {
        case .unavailable: self.init(.brokerUnavailable, "the broker is unavailable; retry later")
        case .connectionLost: self.init(.brokerUnavailable, "the broker connection was lost before the log was confirmed; retry")
        case .blocked(published: false): self.init(.brokerBlocked, "the broker is refusing publishes (resource alarm); retry later")
        case .blocked(published: true):
            self.init(.brokerBlocked, "the broker is refusing publishes (resource alarm); retry later (the log may be stored twice, never lost)")
        case .confirmBacklog: self.init(.brokerBacklog, "too many logs are waiting for the broker's confirm; retry later")
        case .workBacklog:
            self.init(.brokerBacklog, "the workers are behind (the work queue is over its backlog bound); retry later", retryAfterSeconds: 1)
        case .confirmTimeout:
            self.init(.confirmTimeout, "the broker did not confirm the log in time; retry later (the log may be stored twice, never lost)")
        case .rejected: self.init(.brokerRejected, "the broker refused the log; retry later")
        case .unroutable: self.init(.unroutable, "no queue is bound for this tenant's routing key; the broker topology needs attention")
        }
    }
}
