import Foundation
import LogPipeCore
import SwiftProtobuf

/// OTLP/HTTP logs (`POST /v1/logs`, docs/api.md): an `ExportLogsServiceRequest` in protobuf or in the OTLP JSON
/// mapping, turned into logs. One LogRecord is one log:
///
/// - `text`: a string body as it is; any other body as its JSON text (`{"k":"v"}`, `[1,2]`, `5`); bytes as base64;
/// - `level`: `severityText`, else the severity number's name (`INFO`, `WARN2`, …);
/// - `timestamp`: `timeUnixNano`, else `observedTimeUnixNano` (RFC 3339, milliseconds);
/// - `source`: the resource's `service.name`;
/// - `attributes`: the resource's, the scope's and the record's attributes with their own (dotted) keys, the
///   record's winning on a clash; nested maps flattened with dotted keys, arrays as JSON text; the scope's name
///   and version as `otel.scope.name` / `otel.scope.version`, the ids as `trace_id` / `span_id` (hex),
///   `eventName` as `event.name`; at most ``IngestParser/maxAttributes`` (record ones first; how many were
///   left out goes in `otel.dropped_attributes`);
/// - `log_id`: the record attribute `log.record.uid` when it is a valid log id.
///
/// The tenant: `X-Tenant-ID`, else the single tenant of the API key, else the resource attribute
/// `tenantAttribute` (a header and a resource attribute that disagree reject that resource's records, and so
/// does a tenant the key may not write). A record that cannot be a log (no tenant, empty text, text and
/// attributes over the log size limit) is rejected alone and counted in the response's `partialSuccess`.
public enum OTLPLogs {
    public typealias Request = Logpipe_Otlp_ExportLogsServiceRequest

    /// A request decoded, or nil when the bytes are not one.
    public static func decode(protobuf body: Data) -> Request? {
        try? Request(serializedBytes: body)
    }

    /// The OTLP JSON mapping: lowerCamelCase (snake_case accepted too), 64-bit numbers as strings or numbers,
    /// enums as integers, and trace and span ids as hex, not base64 (see ``hex(ofJSONBytesField:)``).
    public static func decode(json body: Data) -> Request? {
        var options = JSONDecodingOptions()
        options.ignoreUnknownFields = true
        return try? Request(jsonUTF8Bytes: body, options: options)
    }

    /// What the mapping produced: the logs, and the records it could not take with the first reason.
    public struct Mapped: Sendable {
        public var inputs: [LogInput] = []
        public var rejected = 0
        public var firstError: IngestError?
    }

    /// How many log records a request holds (checked against the batch limit before anything is mapped).
    public static func recordCount(_ request: Request) -> Int {
        request.resourceLogs.reduce(0) { total, resource in total + resource.scopeLogs.reduce(0) { $0 + $1.logRecords.count } }
    }

    /// The mapping above. `fromJSON`: the request came as JSON, so its ids were read as base64 of hex text.
    public static func inputs(
        _ request: Request, headerTenant: String?, defaultTenant: TenantID?, tenantAttribute: String,
        parser: IngestParser, fromJSON: Bool, allows: (TenantID) -> Bool = { _ in true }
    ) -> Mapped {
        var mapped = Mapped()
        func reject(_ error: IngestError, count: Int = 1) {
            mapped.rejected += count
            if mapped.firstError == nil { mapped.firstError = error }
        }
        for resourceLogs in request.resourceLogs {
            let resource = flatten(resourceLogs.resource.attributes)
            let records = resourceLogs.scopeLogs.reduce(0) { $0 + $1.logRecords.count }
            let tenant: TenantID
            do throws(IngestError) {
                var fromResource: String?
                if case .string(let value)? = resource.first(where: { $0.key == tenantAttribute })?.value { fromResource = value }
                tenant = try resolveTenant(header: headerTenant, key: defaultTenant, resource: fromResource, parser: parser)
                guard allows(tenant) else { throw IngestError(.tenantNotAllowed, "this API key may not write tenant '\(tenant)'") }
            } catch {
                reject(error, count: records)
                continue
            }
            var source: String?
            if case .string(let name)? = resource.first(where: { $0.key == "service.name" })?.value, !name.isEmpty {
                source = truncated(name, bytes: IngestParser.maxSourceBytes)
            }
            for scopeLogs in resourceLogs.scopeLogs {
                var scope = flatten(scopeLogs.scope.attributes)
                if !scopeLogs.scope.name.isEmpty { scope.append(("otel.scope.name", .string(scopeLogs.scope.name))) }
                if !scopeLogs.scope.version.isEmpty { scope.append(("otel.scope.version", .string(scopeLogs.scope.version))) }
                for record in scopeLogs.logRecords {
                    do throws(IngestError) {
                        mapped.inputs.append(
                            try input(
                                record, tenant: tenant, source: source, scope: scope, resource: resource,
                                parser: parser, fromJSON: fromJSON))
                    } catch {
                        reject(error)
                    }
                }
            }
        }
        return mapped
    }

    /// `X-Tenant-ID` (which a resource attribute naming another tenant contradicts), else the single tenant of
    /// the API key, else the resource attribute.
    static func resolveTenant(header: String?, key: TenantID?, resource: String?, parser: IngestParser) throws(IngestError) -> TenantID {
        if let header { return try parser.resolveTenant(body: resource, header: header) }
        if let key { return key }
        return try parser.resolveTenant(body: resource, header: nil)
    }

    static func input(
        _ record: Logpipe_Otlp_LogRecord, tenant: TenantID, source: String?, scope: [(key: String, value: AttributeValue)],
        resource: [(key: String, value: AttributeValue)], parser: IngestParser, fromJSON: Bool
    ) throws(IngestError) -> LogInput {
        let text = record.hasBody ? bodyText(record.body) : ""
        guard !text.isEmpty else { throw IngestError(.missingText, "a log record has no body") }
        guard text.utf8.count <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "a log record's body is \(text.utf8.count) bytes; the limit is \(parser.maxLogBytes)")
        }
        var own = flatten(record.attributes)
        var logID: String?
        if let index = own.firstIndex(where: { $0.key == "log.record.uid" }), case .string(let uid) = own[index].value, LogID.isValid(uid) {
            logID = uid
            own.remove(at: index)
        }
        if !record.traceID.isEmpty { own.append(("trace_id", .string(hex(record.traceID, fromJSON: fromJSON)))) }
        if !record.spanID.isEmpty { own.append(("span_id", .string(hex(record.spanID, fromJSON: fromJSON)))) }
        if !record.eventName.isEmpty { own.append(("event.name", .string(record.eventName))) }
        let attributes = merge([own, scope, resource])
        // A record's text and attributes together within the limit of one log (an NDJSON line's): attributes of a
        // resource are copied into each of its records, so a large one must not multiply.
        let size = IngestParser.storedSize(text: text, attributes: attributes)
        guard size <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "a log record with its attributes is \(size) bytes; the limit is \(parser.maxLogBytes)")
        }
        let level =
            record.severityText.isEmpty
            ? severityName(record.severityNumber)
            : truncated(record.severityText, bytes: IngestParser.maxLevelBytes)
        let nanos = record.timeUnixNano != 0 ? record.timeUnixNano : record.observedTimeUnixNano
        // 64-bit nanoseconds reach the year 2554: always within RFC 3339's four-digit years.
        let timestamp = nanos == 0 ? nil : UnixTime(milliseconds: nanos / 1_000_000).rfc3339
        return LogInput(
            tenantID: tenant, logID: logID, text: text, timestamp: timestamp, level: level, source: source,
            attributes: attributes.isEmpty ? nil : attributes)
    }

    /// The longest prefix of whole characters within `bytes` UTF-8 bytes.
    static func truncated(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var result = ""
        for character in text {
            guard result.utf8.count + character.utf8.count <= bytes else { break }
            result.append(character)
        }
        return result
    }

    /// Attributes in order of precedence (first wins), within the limits of `/ingest`.
    static func merge(_ groups: [[(key: String, value: AttributeValue)]]) -> [String: AttributeValue] {
        var result: [String: AttributeValue] = [:]
        var dropped = 0
        for group in groups {
            for (key, value) in group where result[key] == nil {
                guard IngestParser.isValidAttributeKey(key) else { dropped += 1; continue }
                guard result.count < IngestParser.maxAttributes - 1 else { dropped += 1; continue }
                result[key] = value
            }
        }
        if dropped > 0 { result["otel.dropped_attributes"] = .int(Int64(dropped)) }
        return result
    }

    /// Key-value lists as flat attributes: maps become dotted keys, arrays and bytes become text.
    static func flatten(_ list: [Logpipe_Otlp_KeyValue], prefix: String = "", depth: Int = 0) -> [(key: String, value: AttributeValue)] {
        var result: [(key: String, value: AttributeValue)] = []
        for pair in list {
            let key = prefix + pair.key
            switch pair.value.value {
            case .stringValue(let text)?: result.append((key, .string(text)))
            case .boolValue(let flag)?: result.append((key, .bool(flag)))
            case .intValue(let number)?: result.append((key, .int(number)))
            case .doubleValue(let number)?: result.append((key, number.isFinite ? .double(number) : .string(String(number))))
            case .kvlistValue(let map)? where depth < 8: result.append(contentsOf: flatten(map.values, prefix: key + ".", depth: depth + 1))
            case .bytesValue(let bytes)?: result.append((key, .string(bytes.base64EncodedString())))
            case nil: continue
            default: result.append((key, .string(jsonText(pair.value, depth: depth))))
            }
        }
        return result
    }

    /// A body as the log's text: a string as it is, anything else as JSON.
    static func bodyText(_ body: Logpipe_Otlp_AnyValue) -> String {
        if case .stringValue(let text)? = body.value { return text }
        if body.value == nil { return "" }
        return jsonText(body, depth: 0)
    }

    /// An AnyValue as JSON text (maps as objects, arrays as arrays, bytes as base64 strings).
    static func jsonText(_ value: Logpipe_Otlp_AnyValue, depth: Int) -> String {
        func quoted(_ text: String) -> String {
            var bytes: [UInt8] = []
            JSONWriting.appendString(text, to: &bytes)
            return String(decoding: bytes, as: UTF8.self)
        }
        guard depth < 16 else { return "null" }
        switch value.value {
        case .stringValue(let text)?: return quoted(text)
        case .boolValue(let flag)?: return flag ? "true" : "false"
        case .intValue(let number)?: return String(number)
        case .doubleValue(let number)?: return number.isFinite ? "\(number)" : quoted(String(number))
        case .bytesValue(let bytes)?: return quoted(bytes.base64EncodedString())
        case .arrayValue(let array)?: return "[" + array.values.map { jsonText($0, depth: depth + 1) }.joined(separator: ",") + "]"
        case .kvlistValue(let map)?:
            return "{" + map.values.map { quoted($0.key) + ":" + jsonText($0.value, depth: depth + 1) }.joined(separator: ",") + "}"
        case nil: return "null"
        }
    }

    /// The OTLP severity number's short name (1–4 TRACE…TRACE4, 5–8 DEBUG…, 9 INFO, 13 WARN, 17 ERROR, 21 FATAL).
    static func severityName(_ number: Int32) -> String? {
        guard (1...24).contains(number) else { return nil }
        let names = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"]
        let step = (number - 1) % 4
        return names[Int(number - 1) / 4] + (step == 0 ? "" : String(step + 1))
    }

    /// Lower-case hex of an id. In OTLP JSON ids are hex text, which swift-protobuf's JSON reader took for base64
    /// (a 32- or 16-character hex string is valid base64 with no padding): encoding those bytes as base64 again
    /// gives back the text exactly, which is the hex.
    static func hex(_ id: Data, fromJSON: Bool) -> String {
        if fromJSON { return id.base64EncodedString().lowercased() }
        return id.map { String(format: "%02x", $0) }.joined()
    }

    /// The `ExportLogsServiceResponse` for a request of which `rejected` records were refused.
    public static func response(rejected: Int, message: String?, json: Bool) -> Data {
        var response = Logpipe_Otlp_ExportLogsServiceResponse()
        if rejected > 0 {
            response.partialSuccess.rejectedLogRecords = Int64(rejected)
            response.partialSuccess.errorMessage = message ?? ""
        }
        if json { return (try? response.jsonUTF8Data()) ?? Data("{}".utf8) }
        return (try? response.serializedData()) ?? Data()
    }
}
