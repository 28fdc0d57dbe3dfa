import LogPipeCore

/// What one shipper request may make the API build, checked while it is decoded and mapped rather than after:
/// a request's cost must follow what it holds, not what it could expand to.
public struct ShipperLimits: Sendable, Equatable {
    /// Records (OTLP) or entries (Loki) in one request, counted before anything is built: `LOGPIPE_MAX_BATCH_LOGS`.
    public var records: Int
    /// What the decoded form of a request may take in memory, estimated from its wire form before it is
    /// decoded (``OTLPLogs/inspect(_:json:limits:)``): `LOGPIPE_MAX_DECODED_BYTES`.
    public var decodedBytes: Int
    /// The logs a request expands to, every record's text and attributes with the shared (resource, scope,
    /// stream) ones counted in each record, as an NDJSON body of the same logs would hold them:
    /// `LOGPIPE_MAX_REQUEST_BYTES`.
    public var expandedBytes: Int

    public init(records: Int = 10_000, decodedBytes: Int = 64 << 20, expandedBytes: Int = 8 << 20) {
        self.records = records
        self.decodedBytes = decodedBytes
        self.expandedBytes = expandedBytes
    }

    /// The refusal of a request whose records or entries are over ``records``.
    func tooManyRecords(_ noun: String) -> IngestError {
        IngestError(.tooManyLogs, "the request holds more than \(records) \(noun); send smaller batches")
    }

    /// The refusal of a request whose decoded form would be over ``decodedBytes``.
    var tooLargeDecoded: IngestError {
        IngestError(
            .requestTooLarge,
            "the request decodes to more than \(decodedBytes) bytes (many small or empty elements); send smaller batches")
    }

    /// The refusal of a request whose logs, with their shared attributes, are over ``expandedBytes``.
    var tooLargeExpanded: IngestError {
        IngestError(
            .requestTooLarge,
            "the request's logs with their shared attributes come to more than \(expandedBytes) bytes; send smaller batches")
    }

    /// The refusal of a request given up before it was mapped whole.
    public static let abandoned = IngestError(.requestAbandoned, "the request was given up: the client went away or the server is stopping")
}
