import Foundation

/// Turns `/ingest` bodies into validated ``LogInput``s (docs/api.md). Pure: no I/O, no clocks.
public struct IngestParser: Sendable {
    /// Per-log limits (request-size limits are the HTTP layer's): the largest text, and the largest NDJSON line.
    public var maxLogBytes: Int
    /// The most logs one NDJSON batch may hold.
    public var maxBatchLogs: Int

    public init(maxLogBytes: Int = 256 * 1024, maxBatchLogs: Int = 10_000) {
        self.maxLogBytes = maxLogBytes
        self.maxBatchLogs = maxBatchLogs
    }

    /// Parses an `application/json` body: one object with `tenant_id` (unless the header gives it), `text`
    /// and optional `log_id`, `timestamp`, `level`, `source`, `attributes`. `defaultTenant` (fixed by an
    /// API key) applies when neither the body nor the header names a tenant.
    public func parseJSON(_ body: Data, headerTenant: String?, defaultTenant: TenantID? = nil) throws(IngestError) -> LogInput {
        try parseObject(body, headerTenant: headerTenant, defaultTenant: defaultTenant)
    }

    /// Parses an `application/json` body that may be a batch: a JSON array of log objects (what Fluent Bit's
    /// and Vector's `http` outputs send) is validated like NDJSON; anything else is one log.
    public func parseJSONBody(_ body: Data, headerTenant: String?, defaultTenant: TenantID? = nil) throws(IngestError) -> (inputs: [LogInput], isBatch: Bool) {
        let first = body.first { !Self.isJSONWhitespace($0) }
        guard first == UInt8(ascii: "[") else {
            return ([try parseJSON(body, headerTenant: headerTenant, defaultTenant: defaultTenant)], false)
        }
        return (try parseJSONArray(body, headerTenant: headerTenant, defaultTenant: defaultTenant), true)
    }

    /// Parses a JSON array of log objects with NDJSON's rules: every element is checked before anything is
    /// returned, bad ones make one `invalid_batch` error listing their positions (1-based, as `line`).
    public func parseJSONArray(_ body: Data, headerTenant: String?, defaultTenant: TenantID? = nil) throws(IngestError) -> [LogInput] {
        let elements = try splitArray(body)
        guard !elements.isEmpty else { throw IngestError(.emptyBatch, "the batch holds no logs: send a JSON array of log objects") }
        return try parseBatch(body, elements, noun: ("element", "elements"), headerTenant: headerTenant, defaultTenant: defaultTenant)
    }

    /// Parses an `application/x-ndjson` batch: one JSON object per line (blank lines are skipped). Every line
    /// is checked before anything is returned; bad lines make one `invalid_batch` error that lists them.
    public func parseNDJSON(_ body: Data, headerTenant: String?, defaultTenant: TenantID? = nil) throws(IngestError) -> [LogInput] {
        let lines = try splitLines(body)
        guard !lines.isEmpty else { throw IngestError(.emptyBatch, "the batch holds no logs: send one JSON object per line") }
        return try parseBatch(body, lines, noun: ("line", "lines"), headerTenant: headerTenant, defaultTenant: defaultTenant)
    }

    /// Every piece of a batch as one log, or one `invalid_batch` error naming the bad pieces.
    private func parseBatch(
        _ body: Data, _ pieces: [(number: Int, range: Range<Int>)], noun: (one: String, many: String),
        headerTenant: String?, defaultTenant: TenantID?
    ) throws(IngestError) -> [LogInput] {
        var inputs: [LogInput] = []
        inputs.reserveCapacity(pieces.count)
        var errors: [IngestError.LineError] = []
        var bad = 0
        for piece in pieces {
            do throws(IngestError) {
                inputs.append(
                    try parseObject(
                        body[body.startIndex + piece.range.lowerBound..<body.startIndex + piece.range.upperBound],
                        headerTenant: headerTenant, defaultTenant: defaultTenant))
            } catch {
                bad += 1
                if errors.count < IngestError.maxLineErrors {
                    errors.append(.init(line: piece.number, code: error.code, message: error.message))
                }
            }
        }
        guard errors.isEmpty else {
            let shown = errors.prefix(10).map { String($0.line) }.joined(separator: ", ")
            throw IngestError(
                .invalidBatch, "\(bad) of \(pieces.count) \(noun.many) are invalid (\(noun.one) \(shown)\(bad > 10 ? ", …" : "")); nothing was accepted",
                lineErrors: errors)
        }
        return inputs
    }

    /// The elements of a JSON array body (1-based numbers, byte ranges), within the limits; an element that is
    /// not an object is found when it is parsed.
    private func splitArray(_ body: Data) throws(IngestError) -> [(number: Int, range: Range<Int>)] {
        let result = body.withUnsafeBytes { bytes -> Result<[(number: Int, range: Range<Int>)], IngestError> in
            var elements: [(number: Int, range: Range<Int>)] = []
            var scanner = JSONScanner(bytes)
            var limit: IngestError?
            do throws(JSONScanner.Failure) {
                try scanner.array { element throws(JSONScanner.Failure) in
                    _ = element.peek()
                    let start = element.offset
                    try element.skipValue()
                    guard limit == nil else { return }
                    if element.offset - start > maxLogBytes {
                        limit = IngestError(.lineTooLarge, "element \(elements.count + 1) is \(element.offset - start) bytes; the limit is \(maxLogBytes)")
                    } else if elements.count == maxBatchLogs {
                        limit = IngestError(.tooManyLogs, "the batch holds more than \(maxBatchLogs) logs; split it")
                    }
                    elements.append((elements.count + 1, start..<element.offset))
                }
                try scanner.expectEnd()
            } catch {
                return .failure(IngestError(.invalidJSON, "the body is not valid JSON"))
            }
            if let limit { return .failure(limit) }
            return .success(elements)
        }
        return try result.get()
    }

    /// The non-blank lines (1-based numbers, byte ranges without the line break), within the limits.
    private func splitLines(_ body: Data) throws(IngestError) -> [(number: Int, range: Range<Int>)] {
        let result = body.withUnsafeBytes { bytes -> Result<[(number: Int, range: Range<Int>)], IngestError> in
            var lines: [(number: Int, range: Range<Int>)] = []
            var start = 0
            var number = 0
            while start <= bytes.count {
                let newline = Self.newline(in: bytes, from: start)
                number += 1
                var end = newline
                if end > start, bytes[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                if bytes[start..<end].contains(where: { !Self.isJSONWhitespace($0) }) {
                    guard end - start <= maxLogBytes else {
                        return .failure(IngestError(.lineTooLarge, "line \(number) is \(end - start) bytes; the limit is \(maxLogBytes)"))
                    }
                    lines.append((number, start..<end))
                    guard lines.count <= maxBatchLogs else {
                        return .failure(IngestError(.tooManyLogs, "the batch holds more than \(maxBatchLogs) logs; split it"))
                    }
                }
                start = newline + 1
            }
            return .success(lines)
        }
        return try result.get()
    }

    /// The offset of the first `\n` at or after `start`, else the end (memchr: lines of logs are long).
    static func newline(in bytes: UnsafeRawBufferPointer, from start: Int) -> Int {
        guard let base = bytes.baseAddress, start < bytes.count, let found = memchr(base + start, 0x0A, bytes.count - start) else {
            return bytes.count
        }
        return UnsafeRawPointer(found) - base
    }

    static func isJSONWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    private func parseObject(_ body: Data, headerTenant: String?, defaultTenant: TenantID?) throws(IngestError) -> LogInput {
        let object = try body.withUnsafeBytes { RawObject.parse($0) }.get()
        let tenant = try resolveTenant(body: object.tenantID, header: headerTenant, default: defaultTenant)
        guard let text = object.text else { throw IngestError(.missingText, "field 'text' is required") }
        try checkText(text)
        if let logID = object.logID, !LogID.isValid(logID) {
            throw IngestError(.invalidLogID, "field 'log_id' must be 1–128 characters of A-Z a-z 0-9 . _ : -")
        }
        if let broken = object.fields.violation(text: text, maxLogBytes: maxLogBytes) { throw broken.error }
        return LogInput(tenantID: tenant, logID: object.logID, text: text, fields: object.fields)
    }

    /// Parses a `text/plain` body: the body is the text, the tenant comes from `X-Tenant-ID` and the
    /// optional log id from `X-Log-ID`.
    public func parseText(
        _ body: Data, headerTenant: String?, headerLogID: String?,
        defaultTenant: TenantID? = nil
    ) throws(IngestError) -> LogInput {
        let tenant = try resolveTenant(body: nil, header: headerTenant, default: defaultTenant)
        guard let text = String(validating: body, as: UTF8.self) else {
            throw IngestError(.invalidUTF8, "a text/plain body must be UTF-8")
        }
        try checkText(text)
        if let headerLogID, !LogID.isValid(headerLogID) {
            throw IngestError(.invalidLogID, "header 'X-Log-ID' must be 1–128 characters of A-Z a-z 0-9 . _ : -")
        }
        return LogInput(tenantID: tenant, logID: headerLogID, text: text)
    }

    private func checkText(_ text: String) throws(IngestError) {
        guard !text.isEmpty else { throw IngestError(.missingText, "the log text must not be empty") }
        guard text.utf8.count <= maxLogBytes else {
            throw IngestError(.logTooLarge, "the log text is \(text.utf8.count) bytes; the limit is \(maxLogBytes)")
        }
    }

    /// The body's and the header's tenant must agree when both are given; one of them (or the API key's
    /// tenant) is required.
    public func resolveTenant(body: String?, header: String?, default fallback: TenantID? = nil) throws(IngestError) -> TenantID {
        if let body, let header, body != header {
            throw IngestError(.tenantMismatch, "'tenant_id' in the body and the X-Tenant-ID header differ")
        }
        guard let value = body ?? header else {
            if let fallback { return fallback }
            throw IngestError(.missingTenantID, "a tenant is required: set 'tenant_id' in the body or the X-Tenant-ID header")
        }
        guard let tenant = TenantID(value) else {
            throw IngestError(.invalidTenantID, "tenant ids are 1–63 characters: a-z or 0-9 first, then a-z 0-9 _ -")
        }
        guard !tenant.isReserved else {
            throw IngestError(.reservedTenant, "tenant ids starting with 'sqlite_' are reserved by the store; choose another name")
        }
        return tenant
    }
}

/// The JSON object as sent, with strict field and type checks and no knowledge of the rules above.
/// Read with ``JSONScanner`` (the API's hot path): unknown members, then type errors in field order, are
/// reported as the first problem.
private struct RawObject {
    var tenantID: String?
    var text: String?
    var logID: String?
    var fields = LogFields()

    static let names = ["tenant_id", "text", "log_id"] + LogFields.names

    static func parse(_ bytes: UnsafeRawBufferPointer) -> Result<RawObject, IngestError> {
        var object = RawObject()
        var unknown: [String] = []
        var badFields = Set<String>()
        var scanner = JSONScanner(bytes)
        do throws(JSONScanner.Failure) {
            try scanner.object { key, scanner throws(JSONScanner.Failure) in
                func string(_ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> String? {
                    if try scanner.isNull() { return nil }
                    do throws(JSONScanner.Failure) {
                        return try scanner.string()
                    } catch {
                        guard error == .type else { throw error }
                        badFields.insert(key)
                        try scanner.skipValue()
                        return nil
                    }
                }
                switch key {
                case "tenant_id": object.tenantID = try string(&scanner)
                case "text": object.text = try string(&scanner)
                case "log_id": object.logID = try string(&scanner)
                default:
                    var probe = scanner
                    do throws(JSONScanner.Failure) {
                        if try object.fields.read(key, &probe) {
                            scanner = probe
                            return
                        }
                    } catch {
                        guard error == .type else { throw error }
                        badFields.insert(key)
                        try scanner.skipValue()
                        return
                    }
                    unknown.append(key)
                    try scanner.skipValue()
                }
            }
            try scanner.expectEnd()
        } catch  where error == .type {
            // Valid JSON that is not an object, or not JSON at all?
            var check = JSONScanner(bytes)
            do throws(JSONScanner.Failure) {
                try check.skipValue()
                try check.expectEnd()
            } catch {
                return .failure(IngestError(.invalidJSON, "the body is not valid JSON"))
            }
            return .failure(IngestError(.invalidBody, "the body must be one JSON object"))
        } catch {
            return .failure(IngestError(.invalidJSON, "the body is not valid JSON"))
        }
        if let first = unknown.sorted().first {
            let shown = first.utf8.count <= 64 && first.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
            return .failure(
                IngestError(
                    .unknownField,
                    shown
                        ? "unknown field '\(first)'; allowed: \(names.sorted().joined(separator: ", "))"
                        : "the object has an unknown field"))
        }
        if let field = names.first(where: badFields.contains) {
            return .failure(
                field == "attributes"
                    ? IngestError(.invalidAttributes, "field 'attributes' must be a flat object of strings, numbers and booleans")
                    : IngestError(.invalidField, "field '\(field)' must be a string"))
        }
        return .success(object)
    }
}
