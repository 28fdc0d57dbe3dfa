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
///   `eventName` as `event.name`; at most ``LogFields/maxAttributes`` (record ones first; how many were
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

    /// Roughly what one message (a record, an attribute, a value) takes once swift-protobuf has decoded it.
    static let decodedBytesPerMessage = 200

    /// Looks at a body before it is decoded: refuses it when it holds more records than ``ShipperLimits/records``
    /// or when its decoded form would take more than ``ShipperLimits/decodedBytes``, and returns what that form
    /// will take (for the body budget). Linear in the body, and builds nothing (``ProtobufWireScan``, or a walk
    /// of the JSON with the fast reader).
    public static func inspect(_ body: Data, json: Bool, limits: ShipperLimits) throws(IngestError) -> Int {
        let maxMessages = max(0, limits.decodedBytes - body.count) / decodedBytesPerMessage
        let notOTLP = IngestError(
            .invalidOTLP,
            json
                ? "the body is not an OTLP ExportLogsServiceRequest in the OTLP JSON mapping"
                : "the body is not a protobuf OTLP ExportLogsServiceRequest")
        let counted = body.withUnsafeBytes { bytes -> Result<Int, IngestError> in
            if json {
                var walk = JSONShapeCount(maxObjects: maxMessages, maxRecords: limits.records, recordKeys: ["logRecords", "log_records"])
                switch walk.run(bytes) {
                case .counted: return .success(walk.objects)
                case .malformed: return .failure(notOTLP)
                case .tooMany: return .failure(limits.tooManyRecords("log records"))
                case .tooLarge: return .failure(limits.tooLargeDecoded)
                }
            }
            do throws(ProtobufWireScan.Failure) {
                let counts = try ProtobufWireScan.count(
                    bytes, shape: wireShape, counted: Kind.logRecord.rawValue, limit: limits.records, maxMessages: maxMessages)
                return .success(counts.reduce(0, +))
            } catch {
                switch error {
                case .malformed: return .failure(notOTLP)
                case .tooMany: return .failure(limits.tooManyRecords("log records"))
                case .tooLarge: return .failure(limits.tooLargeDecoded)
                }
            }
        }
        return body.count + (try counted.get()) * decodedBytesPerMessage
    }

    /// The message kinds of an `ExportLogsServiceRequest`, for ``ProtobufWireScan``.
    enum Kind: Int, CaseIterable {
        case request, resourceLogs, resource, scopeLogs, scope, logRecord, keyValue, anyValue, arrayValue, keyValueList
    }

    /// Which field of which message holds which submessage (Protos/otlp_logs.proto).
    static let wireShape = ProtobufWireScan.Shape(kinds: Kind.allCases.count) { kind, field in
        let child: Kind? =
            switch (Kind(rawValue: kind)!, field) {
            case (.request, 1): .resourceLogs
            case (.resourceLogs, 1): .resource
            case (.resourceLogs, 2): .scopeLogs
            case (.resource, 1): .keyValue
            case (.scopeLogs, 1): .scope
            case (.scopeLogs, 2): .logRecord
            case (.scope, 3): .keyValue
            case (.logRecord, 5): .anyValue
            case (.logRecord, 6): .keyValue
            case (.keyValue, 2): .anyValue
            case (.anyValue, 5): .arrayValue
            case (.anyValue, 6): .keyValueList
            case (.arrayValue, 1): .anyValue
            case (.keyValueList, 1): .keyValue
            default: nil
            }
        return child?.rawValue
    }

    /// How many log records a request holds.
    public static func recordCount(_ request: Request) -> Int {
        request.resourceLogs.reduce(0) { total, resource in total + resource.scopeLogs.reduce(0) { $0 + $1.logRecords.count } }
    }

    /// The mapping above. `fromJSON`: the request came as JSON, so its ids were read as base64 of hex text.
    /// Resource and scope attributes are flattened once and shared by their records, so the cost is linear in
    /// the request. Throws for the whole request when its logs come to more than ``ShipperLimits/expandedBytes``,
    /// or when `shouldStop` says the work is no longer wanted (asked every 64 records).
    public static func inputs(
        _ request: Request, headerTenant: String?, defaultTenant: TenantID?, tenantAttribute: String,
        parser: IngestParser, fromJSON: Bool, limits: ShipperLimits = ShipperLimits(),
        allows: (TenantID) -> Bool = { _ in true }, shouldStop: () -> Bool = { false }
    ) throws(IngestError) -> Mapped {
        var mapped = Mapped()
        var expanded = 0
        var seen = 0
        func reject(_ error: IngestError, count: Int = 1) {
            mapped.rejected += count
            if mapped.firstError == nil { mapped.firstError = error }
        }
        for resourceLogs in request.resourceLogs {
            let resource = flatten(resourceLogs.resource.attributes, valueLimit: parser.maxLogBytes)
            let records = resourceLogs.scopeLogs.reduce(0) { $0 + $1.logRecords.count }
            let tenant: TenantID
            do throws(IngestError) {
                var fromResource: String?
                if case .string(let value)? = resource.value(of: tenantAttribute) { fromResource = value }
                tenant = try resolveTenant(header: headerTenant, key: defaultTenant, resource: fromResource, parser: parser)
                guard allows(tenant) else { throw IngestError(.tenantNotAllowed, "this API key may not write tenant '\(tenant)'") }
            } catch {
                reject(error, count: records)
                continue
            }
            var source: String?
            if case .string(let name)? = resource.value(of: "service.name"), !name.isEmpty {
                source = truncated(name, bytes: LogFields.maxSourceBytes)
            }
            for scopeLogs in resourceLogs.scopeLogs {
                var scope = flatten(scopeLogs.scope.attributes, valueLimit: parser.maxLogBytes)
                if !scopeLogs.scope.name.isEmpty { scope.append("otel.scope.name", .string(scopeLogs.scope.name)) }
                if !scopeLogs.scope.version.isEmpty { scope.append("otel.scope.version", .string(scopeLogs.scope.version)) }
                let shared = FlatAttributes.merged(scope, resource)
                for record in scopeLogs.logRecords {
                    seen += 1
                    if seen % 64 == 0, shouldStop() { throw ShipperLimits.abandoned }
                    let input: LogInput
                    do throws(IngestError) {
                        input = try self.input(record, tenant: tenant, source: source, shared: shared, parser: parser, fromJSON: fromJSON)
                    } catch {
                        reject(error)
                        continue
                    }
                    expanded += LogFields.storedSize(text: input.text, attributes: input.attributes ?? [:])
                    guard expanded <= limits.expandedBytes else { throw limits.tooLargeExpanded }
                    mapped.inputs.append(input)
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
        _ record: Logpipe_Otlp_LogRecord, tenant: TenantID, source: String?, shared: FlatAttributes, parser: IngestParser,
        fromJSON: Bool
    ) throws(IngestError) -> LogInput {
        let text = record.hasBody ? bodyText(record.body, limit: parser.maxLogBytes) : ""
        guard !text.isEmpty else { throw IngestError(.missingText, "a log record has no body") }
        guard text.utf8.count <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "a log record's body is over \(parser.maxLogBytes) bytes, the limit")
        }
        var own = flatten(record.attributes, valueLimit: parser.maxLogBytes)
        var logID: String?
        if let index = own.pairs.firstIndex(where: { $0.key == "log.record.uid" }), case .string(let uid) = own.pairs[index].value,
            LogID.isValid(uid)
        {
            logID = uid
            own.pairs.remove(at: index)
        }
        if !record.traceID.isEmpty { own.append("trace_id", .string(hex(record.traceID, fromJSON: fromJSON))) }
        if !record.spanID.isEmpty { own.append("span_id", .string(hex(record.spanID, fromJSON: fromJSON))) }
        if !record.eventName.isEmpty { own.append("event.name", .string(record.eventName)) }
        // A record's text and attributes together within the limit of one log (an NDJSON line's): the shared
        // attributes count in every record they are part of.
        guard !own.oversized, !shared.oversized else {
            throw IngestError(.logTooLarge, "a log record's attribute value is over \(parser.maxLogBytes) bytes, the limit")
        }
        let attributes = FlatAttributes.dictionary(own, shared)
        let size = LogFields.storedSize(text: text, attributes: attributes)
        guard size <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "a log record with its attributes is \(size) bytes; the limit is \(parser.maxLogBytes)")
        }
        let level =
            record.severityText.isEmpty
            ? severityName(record.severityNumber)
            : truncated(record.severityText, bytes: LogFields.maxLevelBytes)
        let nanos = record.timeUnixNano != 0 ? record.timeUnixNano : record.observedTimeUnixNano
        // 64-bit nanoseconds reach the year 2554: always within RFC 3339's four-digit years.
        let timestamp = nanos == 0 ? nil : UnixTime(milliseconds: nanos / 1_000_000).rfc3339
        return LogInput(
            tenantID: tenant, logID: logID, text: text,
            fields: LogFields(timestamp: timestamp, level: level, source: source, attributes: attributes.isEmpty ? nil : attributes))
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
