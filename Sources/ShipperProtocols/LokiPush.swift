import Foundation
import LogPipeCore
import SnappyBridge
import SwiftProtobuf

/// The Loki push API (`POST /loki/api/v1/push`, docs/api.md): JSON, or protobuf in a snappy block, turned into
/// logs. Each entry is one log: the line → `text`, its time (nanoseconds) → `timestamp`, the stream's labels
/// and the entry's structured metadata → `attributes` (metadata winning on a clash), a `level` (or
/// `severity`, `detected_level`) label → `level`, `service_name` (or `job`) → `source`.
///
/// Like an `/ingest` batch, a push is all or nothing: every entry is checked first, and bad ones are listed
/// (numbered across streams from 1) in one `invalid_batch` error.
public enum LokiPush {
    /// One stream as sent: its labels, and its entries.
    public struct Stream: Sendable {
        public var labels: [(key: String, value: String)]
        public var entries: [Entry]
    }

    public struct Entry: Sendable {
        public var nanoseconds: Int64?
        public var line: String
        public var metadata: [(key: String, value: String)]
    }

    /// The length a snappy block declares, or nil when the header is not valid.
    public static func decompressedLength(_ body: Data) -> Int? {
        body.withUnsafeBytes { SnappyBlock.decompressedLength($0) }
    }

    /// Roughly what one message (a stream, an entry, a label pair) takes once decoded.
    static let decodedBytesPerMessage = 160

    /// A snappy block decompressed within `limit` bytes.
    public static func decompress(snappy body: Data, limit: Int) throws(IngestError) -> [UInt8] {
        let result = body.withUnsafeBytes { bytes -> Result<[UInt8], SnappyBlock.Failure> in
            do throws(SnappyBlock.Failure) { return .success(try SnappyBlock.decompress(bytes, limit: limit)) } catch { return .failure(error) }
        }
        switch result {
        case .success(let bytes): return bytes
        case .failure(.tooLarge): throw IngestError(.requestTooLarge, "the push decompresses to more than \(limit) bytes")
        case .failure: throw IngestError(.invalidLoki, "the body is not snappy-compressed protobuf (send Content-Type application/json for JSON)")
        }
    }

    /// Looks at a `PushRequest` before it is decoded (``ProtobufWireScan``): refuses more entries than
    /// ``ShipperLimits/records`` and a decoded form over ``ShipperLimits/decodedBytes``; returns what that form
    /// will take, for the body budget.
    public static func inspect(protobuf raw: [UInt8], limits: ShipperLimits) throws(IngestError) -> Int {
        let maxMessages = max(0, limits.decodedBytes - raw.count) / decodedBytesPerMessage
        let result = raw.withUnsafeBytes { bytes -> Result<[Int], ProtobufWireScan.Failure> in
            do throws(ProtobufWireScan.Failure) {
                return .success(
                    try ProtobufWireScan.count(bytes, shape: wireShape, counted: Kind.entry.rawValue, limit: limits.records, maxMessages: maxMessages))
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .success(let counts): return raw.count + counts.reduce(0, +) * decodedBytesPerMessage
        case .failure(.malformed): throw IngestError(.invalidLoki, "the body is not a Loki PushRequest")
        case .failure(.tooMany): throw limits.tooManyRecords("entries")
        case .failure(.tooLarge): throw limits.tooLargeDecoded
        }
    }

    /// The message kinds of a `PushRequest`, for ``ProtobufWireScan``.
    enum Kind: Int, CaseIterable {
        case request, stream, entry, timestamp, labelPair
    }

    /// Which field of which message holds which submessage (Protos/loki_push.proto).
    static let wireShape = ProtobufWireScan.Shape(kinds: Kind.allCases.count) { kind, field in
        let child: Kind? =
            switch (Kind(rawValue: kind)!, field) {
            case (.request, 1): .stream
            case (.stream, 2): .entry
            case (.entry, 1): .timestamp
            case (.entry, 3): .labelPair
            default: nil
            }
        return child?.rawValue
    }

    /// A decompressed `PushRequest` (inspected first) as streams; a stream with more than
    /// ``LogFields/maxAttributes`` labels is refused without reading the rest of its label set.
    public static func decode(protobuf raw: [UInt8]) throws(IngestError) -> [Stream] {
        guard let request = try? Logpipe_Loki_PushRequest(serializedBytes: raw) else {
            throw IngestError(.invalidLoki, "the body is not a Loki PushRequest")
        }
        var streams: [Stream] = []
        streams.reserveCapacity(request.streams.count)
        for stream in request.streams {
            guard let labels = parseLabels(stream.labels, limit: LogFields.maxAttributes) else {
                throw IngestError(.invalidLoki, "a stream's labels are not a label set such as {job=\"api\"}")
            }
            guard labels.count <= LogFields.maxAttributes else { throw tooManyLabels }
            streams.append(
                Stream(
                    labels: labels,
                    entries: stream.entries.map { entry in
                        Entry(
                            nanoseconds: entry.hasTimestamp ? nanoseconds(entry.timestamp) : nil,
                            line: entry.line, metadata: entry.structuredMetadata.map { ($0.name, $0.value) })
                    }))
        }
        return streams
    }

    /// A snappy-compressed `PushRequest`, decompressed within `limit` bytes, inspected and decoded.
    public static func decode(snappyProtobuf body: Data, limit: Int, limits: ShipperLimits = ShipperLimits()) throws(IngestError) -> [Stream] {
        let raw = try decompress(snappy: body, limit: limit)
        _ = try inspect(protobuf: raw, limits: limits)
        return try decode(protobuf: raw)
    }

    static let tooManyLabels = IngestError(
        .invalidAttributes, "a stream has more than \(LogFields.maxAttributes) labels, or an entry more structured metadata")

    /// About what decoded streams take in memory, for the body budget.
    public static func decodedSize(_ streams: [Stream]) -> Int {
        streams.reduce(0) { total, stream in
            stream.entries.reduce(total + (1 + stream.labels.count) * decodedBytesPerMessage) { sum, entry in
                sum + (1 + entry.metadata.count) * decodedBytesPerMessage + entry.line.utf8.count
            }
        }
    }

    /// A protobuf timestamp in nanoseconds; nil when negative or past what an Int64 holds.
    static func nanoseconds(_ timestamp: Logpipe_Loki_Timestamp) -> Int64? {
        let (scaled, overflow) = timestamp.seconds.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, timestamp.seconds >= 0, (0..<1_000_000_000).contains(timestamp.nanos) else { return nil }
        let (total, overflowAgain) = scaled.addingReportingOverflow(Int64(timestamp.nanos))
        return overflowAgain ? nil : total
    }

    /// `{"streams":[{"stream":{labels},"values":[["<ns>","<line>",{metadata}?], …]}]}`, read with the fast
    /// reader: the body is checked as JSON first (`invalid_json`), then walked for the shape (`invalid_loki`).
    /// Labels and metadata come out sorted by name; a name given twice keeps its last value.
    /// Streams and entries are counted against ``ShipperLimits/records`` while they are read, labels and
    /// metadata against ``LogFields/maxAttributes``, so what is built stays bounded whatever the body holds.
    public static func decode(json body: Data, limits: ShipperLimits = ShipperLimits()) throws(IngestError) -> [Stream] {
        try body.withUnsafeBytes { bytes in Result { () throws(IngestError) in try decodeJSON(bytes, limits: limits) } }.get()
    }

    static func decodeJSON(_ bytes: UnsafeRawBufferPointer, limits: ShipperLimits) throws(IngestError) -> [Stream] {
        var check = JSONScanner(bytes)
        do throws(JSONScanner.Failure) {
            try check.skipValue()
            try check.expectEnd()
        } catch {
            throw IngestError(.invalidJSON, "the body is not valid JSON")
        }
        let shape = IngestError(.invalidLoki, #"the body must be {"streams":[{"stream":{…},"values":[["<unix ns>","<line>"]]}]}"#)
        // The scanner's callbacks can only throw its own failure: the first problem is kept here.
        var problem: IngestError?
        func fail(_ error: IngestError) -> JSONScanner.Failure {
            if problem == nil { problem = error }
            return .type
        }
        func strings(_ scanner: inout JSONScanner, _ error: IngestError) throws(JSONScanner.Failure) -> [(key: String, value: String)] {
            guard scanner.peek() == UInt8(ascii: "{") else { throw fail(error) }
            var pairs: [String: String] = [:]
            var count = 0
            try scanner.object { name, value throws(JSONScanner.Failure) in
                guard value.peek() == UInt8(ascii: "\"") else { throw fail(error) }
                count += 1
                guard count <= LogFields.maxAttributes else { throw fail(tooManyLabels) }
                pairs[name] = try value.string()
            }
            return pairs.sorted { $0.key < $1.key }.map { (key: $0.key, value: $0.value) }
        }
        func entry(_ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> Entry {
            let tupleShape = IngestError(.invalidLoki, #"each value must be ["<unix ns>", "<line>"] or ["<unix ns>", "<line>", {metadata}]"#)
            guard scanner.peek() == UInt8(ascii: "[") else { throw fail(tupleShape) }
            var time: String?, line: String?, metadata: [(key: String, value: String)] = []
            var count = 0
            try scanner.array { element throws(JSONScanner.Failure) in
                count += 1
                switch count {
                case 1, 2:
                    guard element.peek() == UInt8(ascii: "\"") else { throw fail(tupleShape) }
                    if count == 1 { time = try element.string() } else { line = try element.string() }
                case 3: metadata = try strings(&element, IngestError(.invalidLoki, "structured metadata must be strings"))
                default: throw fail(tupleShape)
                }
            }
            guard let time, let line else { throw fail(tupleShape) }
            guard let nanoseconds = Int64(time), nanoseconds >= 0 else {
                throw fail(IngestError(.invalidLoki, "a timestamp must be Unix nanoseconds as a string"))
            }
            return Entry(nanoseconds: nanoseconds, line: line, metadata: metadata)
        }

        var scanner = JSONScanner(bytes)
        var streams: [Stream]?
        var streamCount = 0
        var entryCount = 0
        do throws(JSONScanner.Failure) {
            guard scanner.peek() == UInt8(ascii: "{") else { throw fail(shape) }
            try scanner.object { key, root throws(JSONScanner.Failure) in
                guard key == "streams" else { return try root.skipValue() }
                guard root.peek() == UInt8(ascii: "[") else { throw fail(shape) }
                var list: [Stream] = []
                try root.array { item throws(JSONScanner.Failure) in
                    guard item.peek() == UInt8(ascii: "{") else { throw fail(shape) }
                    streamCount += 1
                    guard streamCount <= limits.records else { throw fail(limits.tooManyRecords("streams")) }
                    var labels: [(key: String, value: String)] = []
                    var entries: [Entry]?
                    try item.object { member, value throws(JSONScanner.Failure) in
                        switch member {
                        case "stream": labels = try strings(&value, IngestError(.invalidLoki, "stream labels must be strings"))
                        case "values":
                            guard value.peek() == UInt8(ascii: "[") else { throw fail(shape) }
                            var read: [Entry] = []
                            try value.array { tuple throws(JSONScanner.Failure) in
                                entryCount += 1
                                guard entryCount <= limits.records else { throw fail(limits.tooManyRecords("entries")) }
                                read.append(try entry(&tuple))
                            }
                            entries = read
                        default: try value.skipValue()
                        }
                    }
                    guard let entries else { throw fail(shape) }
                    list.append(Stream(labels: labels, entries: entries))
                }
                streams = list
            }
        } catch {
            throw problem ?? shape
        }
        guard let streams else { throw shape }
        return streams
    }

    /// The logs of a push. `orgID` is `X-Scope-OrgID`; `headerTenant` is `X-Tenant-ID` (both given: equal).
    /// A stream's labels are checked and made attributes once and shared by its entries, so the cost is linear
    /// in the push. Throws for the whole push when its logs come to more than ``ShipperLimits/expandedBytes``,
    /// or when `shouldStop` says the work is no longer wanted (asked every 64 entries).
    public static func inputs(
        _ streams: [Stream], orgID: String?, headerTenant: String?, defaultTenant: TenantID?,
        parser: IngestParser, limits: ShipperLimits = ShipperLimits(), shouldStop: () -> Bool = { false }
    ) throws(IngestError) -> [LogInput] {
        let tenant = try parser.resolveTenant(body: orgID, header: headerTenant, default: defaultTenant)
        var inputs: [LogInput] = []
        var errors: [IngestError.LineError] = []
        var bad = 0
        var number = 0
        var expanded = 0
        for stream in streams {
            let labels = streamAttributes(stream.labels)
            for entry in stream.entries {
                number += 1
                guard number <= parser.maxBatchLogs else {
                    throw IngestError(.tooManyLogs, "the push holds more than \(parser.maxBatchLogs) entries; send smaller batches")
                }
                if number % 64 == 0, shouldStop() { throw ShipperLimits.abandoned }
                do throws(IngestError) {
                    let input = try input(entry, labels: try labels.get(), tenant: tenant, parser: parser)
                    expanded += LogFields.storedSize(text: input.text, attributes: input.attributes ?? [:])
                    guard expanded <= limits.expandedBytes else { throw limits.tooLargeExpanded }
                    inputs.append(input)
                } catch  where error.code == .requestTooLarge {
                    throw error
                } catch {
                    bad += 1
                    if errors.count < IngestError.maxLineErrors { errors.append(.init(line: number, code: error.code, message: error.message)) }
                }
            }
        }
        guard errors.isEmpty else {
            let shown = errors.prefix(10).map { String($0.line) }.joined(separator: ", ")
            throw IngestError(
                .invalidBatch, "\(bad) of \(number) entries are invalid (entry \(shown)\(bad > 10 ? ", …" : "")); nothing was accepted",
                lineErrors: errors)
        }
        return inputs
    }

    /// A stream's labels as attributes (the first of a name wins), or why its entries cannot be logs.
    static func streamAttributes(_ labels: [(key: String, value: String)]) -> Result<[String: AttributeValue], IngestError> {
        guard labels.count <= LogFields.maxAttributes else { return .failure(tooManyLabels) }
        var attributes = [String: AttributeValue](minimumCapacity: labels.count)
        for (key, value) in labels where attributes[key] == nil {
            guard LogFields.isValidAttributeKey(key) else { return .failure(invalidName) }
            attributes[key] = .string(value)
        }
        return .success(attributes)
    }

    static let invalidName = IngestError(
        .invalidAttributes, "label and metadata names must be 1–\(LogFields.maxAttributeKeyBytes) bytes without control characters")

    static func input(_ entry: Entry, labels: [String: AttributeValue], tenant: TenantID, parser: IngestParser) throws(IngestError) -> LogInput {
        guard !entry.line.isEmpty else { throw IngestError(.missingText, "an entry has an empty line") }
        guard entry.line.utf8.count <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "an entry's line is \(entry.line.utf8.count) bytes; the limit is \(parser.maxLogBytes)")
        }
        guard entry.metadata.count <= LogFields.maxAttributes else { throw tooManyLabels }
        var attributes = labels
        // Metadata wins over labels, and the first of a name over a later one.
        for (key, value) in entry.metadata.reversed() {
            guard LogFields.isValidAttributeKey(key) else { throw invalidName }
            attributes[key] = .string(value)
        }
        // The line and its labels together within the limit of one log: a stream's labels count in each entry.
        let size = LogFields.storedSize(text: entry.line, attributes: attributes)
        guard size <= parser.maxLogBytes else {
            throw IngestError(.logTooLarge, "an entry with its labels is \(size) bytes; the limit is \(parser.maxLogBytes)")
        }
        guard attributes.count <= LogFields.maxAttributes else {
            throw IngestError(.invalidAttributes, "an entry has more than \(LogFields.maxAttributes) labels and metadata")
        }
        func first(_ names: [String], limit: Int) -> String? {
            for name in names { if case .string(let value)? = attributes[name], !value.isEmpty, value.utf8.count <= limit { return value } }
            return nil
        }
        let timestamp = entry.nanoseconds.flatMap {
            $0 > 0 && $0 / 1_000_000 <= 253_402_300_799_999 ? UnixTime(milliseconds: UInt64($0 / 1_000_000)).rfc3339 : nil
        }
        return LogInput(
            tenantID: tenant, text: entry.line,
            fields: LogFields(
                timestamp: timestamp, level: first(["level", "severity", "detected_level"], limit: LogFields.maxLevelBytes),
                source: first(["service_name", "job"], limit: LogFields.maxSourceBytes), attributes: attributes.isEmpty ? nil : attributes))
    }

    /// A Prometheus label set, `{job="api", env="prod"}` (escapes `\\`, `\"`, `\n` in values); nil when malformed.
    /// Stops after `limit + 1` labels (the caller refuses a set over `limit`).
    public static func parseLabels(_ text: String, limit: Int = .max) -> [(key: String, value: String)]? {
        let bytes = Array(text.utf8)
        var index = 0
        func skipSpaces() { while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 } }
        skipSpaces()
        guard index < bytes.count, bytes[index] == UInt8(ascii: "{") else { return nil }
        index += 1
        var labels: [(key: String, value: String)] = []
        while true {
            skipSpaces()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: "}") { index += 1; break }
            let nameStart = index
            while index < bytes.count,
                bytes[index] == UInt8(ascii: "_") || (bytes[index] | 0x20) &- 0x61 < 26
                    || (index > nameStart && bytes[index] &- 0x30 < 10)
            { index += 1 }
            guard index > nameStart else { return nil }
            let name = String(decoding: bytes[nameStart..<index], as: UTF8.self)
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "=") else { return nil }
            index += 1
            skipSpaces()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { return nil }
            index += 1
            var value: [UInt8] = []
            while true {
                guard index < bytes.count else { return nil }
                let byte = bytes[index]
                index += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard index < bytes.count else { return nil }
                    let escaped = bytes[index]
                    index += 1
                    value.append(escaped == UInt8(ascii: "n") ? 0x0A : escaped)
                } else {
                    value.append(byte)
                }
            }
            labels.append((name, String(decoding: value, as: UTF8.self)))
            if labels.count > limit { return labels }
            skipSpaces()
            guard index < bytes.count else { return nil }
            if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
            guard bytes[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            break
        }
        skipSpaces()
        return index == bytes.count ? labels : nil
    }
}
