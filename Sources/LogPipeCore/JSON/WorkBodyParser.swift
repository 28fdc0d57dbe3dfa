extension WorkBody {
    /// Why a work message body cannot be used (reason codes of the DLQ headers, docs/operations.md).
    public enum DecodeFailure: Error, Equatable {
        case undecodable
        case unknownSchema
        case invalidTenant

        public var reason: String {
            switch self {
            case .undecodable: "undecodable"
            case .unknownSchema: "unknown_schema"
            case .invalidTenant: "invalid_tenant"
            }
        }
    }

    /// Parses a body with ``JSONScanner`` (the worker's hot path); unknown members are ignored so that newer
    /// producers may add fields.
    public static func parse(_ body: [UInt8]) throws(DecodeFailure) -> [LogRecord] {
        let result = body.withUnsafeBytes { bytes -> Result<[LogRecord], DecodeFailure> in
            var scanner = JSONScanner(bytes)
            var top = Fields()
            var batch: [Fields]?
            do throws(JSONScanner.Failure) {
                try scanner.object { key, scanner throws(JSONScanner.Failure) in
                    if key == "batch" {
                        var items: [Fields] = []
                        try scanner.array { scanner throws(JSONScanner.Failure) in
                            var item = Fields()
                            try scanner.object { key, scanner throws(JSONScanner.Failure) in try item.read(key, &scanner) }
                            items.append(item)
                        }
                        batch = items
                    } else {
                        try top.read(key, &scanner)
                    }
                }
                try scanner.expectEnd()
            } catch {
                return .failure(.undecodable)
            }
            guard top.v == Int64(LogRecord.schemaVersion) else { return .failure(.unknownSchema) }
            do throws(DecodeFailure) {
                if let batch {
                    guard !batch.isEmpty else { return .failure(.unknownSchema) }
                    var records: [LogRecord] = []
                    records.reserveCapacity(batch.count)
                    for item in batch {
                        guard item.v == Int64(LogRecord.schemaVersion) else { return .failure(.unknownSchema) }
                        records.append(try item.record())
                    }
                    return .success(records)
                }
                return .success([try top.record()])
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// The members of one record as read.
    struct Fields {
        var v: Int64?
        var tenantID: String?
        var logID: String?
        var text: String?
        var receivedAt: String?
        var requestID: String?
        var fields = LogFields()

        mutating func read(_ key: String, _ scanner: inout JSONScanner) throws(JSONScanner.Failure) {
            switch key {
            case "v":
                guard case .int(let value) = try scanner.number() else { throw .type }
                v = value
            case "tenant_id": tenantID = try scanner.string()
            case "log_id": logID = try scanner.string()
            case "text": text = try scanner.string()
            case "received_at": receivedAt = try scanner.string()
            case "request_id": requestID = try scanner.string()
            default: if try !fields.read(key, &scanner) { try scanner.skipValue() }
            }
        }

        func record() throws(DecodeFailure) -> LogRecord {
            guard let tenantID else { throw .undecodable }
            guard let tenant = TenantID(tenantID) else { throw .invalidTenant }
            guard let logID, let text, let receivedAt, let requestID else { throw .undecodable }
            return LogRecord(
                tenantID: tenant, logID: logID, text: text, receivedAt: receivedAt, requestID: requestID, fields: fields)
        }
    }
}
