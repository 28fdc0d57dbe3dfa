import LogPipeCore

/// The error codes of the read API (docs/api.md, "Reading logs"); their statuses are in APIErrorStatus.swift.
extension IngestError.Code {
    /// The query or a parameter is not valid LogQL or not a valid value (400).
    public static let invalidQuery = Self("invalid_query")
    /// Valid LogQL that logpipe does not answer; the message names the part (400).
    public static let unsupportedQuery = Self("unsupported_query")
    /// Past a read limit: entries, range, points per series, logs read (400).
    public static let queryTooLarge = Self("query_too_large")
    /// The API key lacks the scope of the endpoint: an ingest key reading, a read key writing (403).
    public static let scopeNotAllowed = Self("scope_not_allowed")
    /// Without API keys, only loopback and `LOGPIPE_READ_ALLOWED_NETWORKS` may read (403).
    public static let readNotAllowed = Self("read_not_allowed")
    /// The store could not be read (503, with Retry-After).
    public static let storeUnavailable = Self("store_unavailable")

    /// Every code of the read API.
    public static let read: [Self] = [.invalidQuery, .unsupportedQuery, .queryTooLarge, .scopeNotAllowed, .readNotAllowed, .storeUnavailable]
}
