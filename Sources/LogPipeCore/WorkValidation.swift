/// The worker's check of a work message's logs: the API's rules again, since anything with broker credentials
/// (or a tampered message replayed from the DLQ) can publish to the exchange, and the worker trusts no message.
/// A log that fails is parked with reason `invalid_message`; the problem is named by field, never quoted.
public struct WorkValidation: Sendable, Equatable {
    /// `LOGPIPE_MAX_LOG_BYTES`: the largest text, and the largest text with its attributes.
    public var maxLogBytes: Int
    /// How far in the future a `received_at` may be (clocks of API and worker hosts disagree a little); a later
    /// one would keep a log past its retention.
    public var maxClockSkew: Duration {
        didSet { skewMilliseconds = DurationText.milliseconds(maxClockSkew) }
    }
    /// ``maxClockSkew`` in milliseconds, converted once rather than per log.
    private var skewMilliseconds: Int64

    public init(maxLogBytes: Int = 256 * 1024, maxClockSkew: Duration = .seconds(300)) {
        self.maxLogBytes = maxLogBytes
        self.maxClockSkew = maxClockSkew
        self.skewMilliseconds = DurationText.milliseconds(maxClockSkew)
    }

    /// The first field of `record` that the API would not have sent, or nil.
    public func problem(_ record: LogRecord, now: UnixTime) -> String? {
        guard LogID.isValid(record.logID) else { return "log_id" }
        guard LogID.isValid(record.requestID) else { return "request_id" }
        guard !record.text.isEmpty, record.text.utf8.count <= maxLogBytes else { return "text" }
        // The API writes its own stamp form (read without the general RFC 3339 parser); anything else is parsed.
        guard let received = UnixTime(stamp: record.receivedAt) ?? UnixTime(rfc3339: record.receivedAt),
            Int64(received.milliseconds) <= Int64(now.milliseconds) + skewMilliseconds
        else { return "received_at" }
        // The fields by the API's own rules (LogFields.violation), named by field.
        return record.fields.violation(text: record.text, maxLogBytes: maxLogBytes)?.field
    }
}
