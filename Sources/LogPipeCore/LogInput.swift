/// One log as a client submitted it, after validation, before the API stamps it.
@dynamicMemberLookup
public struct LogInput: Sendable, Hashable, HasLogFields {
    public var tenantID: TenantID
    public var logID: String?
    public var text: String
    public var fields: LogFields

    public init(tenantID: TenantID, logID: String? = nil, text: String, fields: LogFields = LogFields()) {
        self.tenantID = tenantID
        self.logID = logID
        self.text = text
        self.fields = fields
    }

    /// The record to publish: the client's log id or a new UUIDv7, the receive time and the request id.
    public func record(requestID: String, receivedAt: UnixTime) -> LogRecord {
        var random = SplitMix64()
        return record(requestID: requestID, receivedAt: receivedAt, stamp: receivedAt.rfc3339, random: &random)
    }

    /// The records of one request: one time stamp and one seeded generator for all of them.
    public static func records(_ inputs: [LogInput], requestID: String, receivedAt: UnixTime) -> [LogRecord] {
        let stamp = receivedAt.rfc3339
        var random = SplitMix64()
        return inputs.map { $0.record(requestID: requestID, receivedAt: receivedAt, stamp: stamp, random: &random) }
    }

    func record(requestID: String, receivedAt: UnixTime, stamp: String, random: inout SplitMix64) -> LogRecord {
        LogRecord(
            tenantID: tenantID, logID: logID ?? LogID.generate(millisecondsSinceEpoch: receivedAt.milliseconds, using: &random),
            text: text, receivedAt: stamp, requestID: requestID, fields: fields)
    }
}

/// SplitMix64 seeded from the system's generator: the random bits of UUIDv7s without a system call per id.
/// (Ids need uniqueness, not secrecy.)
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    public init() {
        var system = SystemRandomNumberGenerator()
        state = system.next()
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
