import Foundation
import LogPipeCore
import SnappyBridge
import SwiftProtobuf
import Testing

@testable import ShipperProtocols

/// Shipper payloads built to make the API expand a small request into a huge one (issue: hostile input, round
/// 2). Each was seen to cost gigabytes or minutes before the decoders were bounded by what they may produce;
/// the time limits here are far above the milliseconds each takes now and far below the minutes it took then.
@Suite("Hostile shipper payloads", .timeLimit(.minutes(1)))
struct HostileShipperTests {
    let parser = IngestParser(maxLogBytes: 256 * 1024, maxBatchLogs: 10_000)
    let limits = ShipperLimits(records: 10_000, decodedBytes: 64 << 20, expandedBytes: 8 << 20)

    func pair(_ key: String, _ value: Logpipe_Otlp_AnyValue) -> Logpipe_Otlp_KeyValue {
        var pair = Logpipe_Otlp_KeyValue()
        pair.key = key
        pair.value = value
        return pair
    }

    func string(_ text: String) -> Logpipe_Otlp_AnyValue {
        var value = Logpipe_Otlp_AnyValue()
        value.stringValue = text
        return value
    }

    func request(resource: [Logpipe_Otlp_KeyValue], records: Int) -> OTLPLogs.Request {
        var resourceLogs = Logpipe_Otlp_ResourceLogs()
        resourceLogs.resource.attributes = [pair("tenant.id", string("acme"))] + resource
        var scope = Logpipe_Otlp_ScopeLogs()
        var record = Logpipe_Otlp_LogRecord()
        record.body = string("x")
        scope.logRecords = Array(repeating: record, count: records)
        resourceLogs.scopeLogs = [scope]
        var request = OTLPLogs.Request()
        request.resourceLogs = [resourceLogs]
        return request
    }

    @Test("a map under a long key with many empty-keyed leaves is flattened without building a key past 128 bytes or a pair past 64")
    func kvlistBomb() throws {
        var map = Logpipe_Otlp_AnyValue()
        map.kvlistValue.values = Array(repeating: pair("", string("")), count: 200_000)
        let bomb = pair(String(repeating: "k", count: 1 << 20), map)
        let flat = OTLPLogs.flatten([bomb, pair("ok", string("v"))], valueLimit: 1024)
        #expect(flat.pairs.map(\.key) == ["ok"])
        #expect(flat.dropped == 200_000)

        let mapped = try OTLPLogs.inputs(
            request(resource: [bomb], records: 3), headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id",
            parser: parser, fromJSON: false, limits: limits)
        #expect(mapped.inputs.count == 3)
        #expect(mapped.inputs[0].attributes?["otel.dropped_attributes"] == .int(200_000))
        #expect(mapped.inputs[0].attributes!.keys.allSatisfy { $0.utf8.count <= LogFields.maxAttributeKeyBytes })
    }

    @Test("many resource attributes over many records cost their sum, not their product: each record gets at most 64")
    func resourceTimesRecords() throws {
        let resource = (0..<100_000).map { pair("r\($0)", string("v")) }
        let mapped = try OTLPLogs.inputs(
            request(resource: resource, records: 10_000), headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id",
            parser: parser, fromJSON: false, limits: limits)
        #expect(mapped.inputs.count == 10_000)
        #expect(mapped.inputs.allSatisfy { ($0.attributes?.count ?? 0) <= LogFields.maxAttributes })
        #expect(mapped.inputs[0].attributes?["otel.dropped_attributes"] != nil)
    }

    @Test("logs that expand past the request limit through shared attributes are refused as a whole, 413")
    func expansion() throws {
        let big = pair("big", string(String(repeating: "y", count: 200_000)))
        do {
            _ = try OTLPLogs.inputs(
                request(resource: [big], records: 10_000), headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id",
                parser: parser, fromJSON: false, limits: limits)
            Issue.record("a request expanding to 2 GB of logs was mapped")
        } catch {
            #expect(error.code == .requestTooLarge)
            #expect(error.message.contains("shared attributes"))
        }
    }

    @Test("millions of empty records are refused from the wire, before anything is decoded")
    func emptyRecordsProtobuf() throws {
        // resourceLogs { scopeLogs { logRecords {} × 4,000,000 } }: 2 bytes a record.
        var records = [UInt8](repeating: 0, count: 4_000_000 * 2)
        for index in stride(from: 0, to: records.count, by: 2) { records[index] = 0x12 }
        let resourceLogs = [0x12] + varint(records.count) + records  // scopeLogs { the records }
        let body = Data([0x0A] + varint(resourceLogs.count) + resourceLogs)
        #expect(throws: IngestError(.tooManyLogs, "the request holds more than 10000 log records; send smaller batches")) {
            try OTLPLogs.inspect(body, json: false, limits: limits)
        }
        let fewer = ShipperLimits(records: 10_000_000, decodedBytes: 64 << 20, expandedBytes: 8 << 20)
        do {
            _ = try OTLPLogs.inspect(body, json: false, limits: fewer)
            Issue.record("a request decoding to 800 MB was let through")
        } catch {
            #expect(error.code == .requestTooLarge, "the decoded form (≈800 MB) is over the 64 MiB limit")
        }
    }

    @Test("the same in the OTLP JSON mapping")
    func emptyRecordsJSON() throws {
        let records = Array(repeating: "{}", count: 20_000).joined(separator: ",")
        let body = Data(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[\#(records)]}]}]}"#.utf8)
        do {
            _ = try OTLPLogs.inspect(body, json: true, limits: limits)
            Issue.record("20,000 records passed a 10,000-record limit")
        } catch {
            #expect(error.code == .tooManyLogs)
        }
        let small = Data(#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{},{}]}]}]}"#.utf8)
        #expect(try OTLPLogs.inspect(small, json: true, limits: limits) == small.count + 5 * OTLPLogs.decodedBytesPerMessage)
    }

    @Test("wire bytes that are not protobuf, or nest past swift-protobuf's limit, are refused before decoding")
    func malformedWire() {
        func refused(_ bytes: [UInt8]) -> Bool {
            do {
                _ = try OTLPLogs.inspect(Data(bytes), json: false, limits: limits)
                return false
            } catch {
                return error.code == .invalidOTLP
            }
        }
        #expect(refused([0x0A, 0x05, 0x00]))  // a length past the end
        #expect(refused([0x0B]))  // a group
        #expect(refused([0x00]))  // field 0
        #expect(refused([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]))  // a varint of 11 bytes
        // AnyValue { kvlistValue { values { value { kvlistValue … } } } } 200 levels deep.
        var nested: [UInt8] = []
        for _ in 0..<200 { nested = [0x32] + varint(nested.count + 2) + [0x0A] + varint(nested.count) + nested }
        let body = record(body: nested)
        #expect(refused(body))
        #expect(!refused(record(body: [0x0A, 0x01, 0x78])), "a record with a string body")
    }

    /// `resourceLogs { scopeLogs { logRecords { body: <anyValue> } } }`.
    func record(body anyValue: [UInt8]) -> [UInt8] {
        let record = [0x2A] + varint(anyValue.count) + anyValue
        let scope = [0x12] + varint(record.count) + record
        let resource = [0x12] + varint(scope.count) + scope
        return [0x0A] + varint(resource.count) + resource
    }

    func varint(_ value: Int) -> [UInt8] {
        var value = UInt64(value)
        var bytes: [UInt8] = []
        repeat {
            bytes.append(UInt8(value & 0x7F) | (value > 0x7F ? 0x80 : 0))
            value >>= 7
        } while value > 0
        return bytes
    }

    @Test("Loki: entries and streams are counted while the JSON is read, labels and metadata refused past 64")
    func lokiJSONCounted() throws {
        let entries = Array(repeating: #"["1",""]"#, count: 10_001).joined(separator: ",")
        do {
            _ = try LokiPush.decode(json: Data(#"{"streams":[{"stream":{},"values":[\#(entries)]}]}"#.utf8), limits: limits)
            Issue.record("10,001 entries passed")
        } catch {
            #expect(error.code == .tooManyLogs)
        }
        let labels = (0..<65).map { #""l\#($0)":"v""# }.joined(separator: ",")
        do {
            _ = try LokiPush.decode(json: Data(#"{"streams":[{"stream":{\#(labels)},"values":[]}]}"#.utf8), limits: limits)
            Issue.record("65 labels passed")
        } catch {
            #expect(error.code == .invalidAttributes)
        }
    }

    @Test("Loki: a stream's labels are checked once and shared by its entries; the push's expansion is limited")
    func lokiSharedLabels() throws {
        let labels = (0..<64).map { (key: "l\($0)", value: "vvvv") }
        let stream = LokiPush.Stream(labels: labels, entries: Array(repeating: .init(nanoseconds: 1, line: "x", metadata: []), count: 5_000))
        let logs = try LokiPush.inputs([stream], orgID: "acme", headerTenant: nil, defaultTenant: nil, parser: parser, limits: limits)
        #expect(logs.count == 5_000 && logs.allSatisfy { $0.attributes?.count == 64 })
        let tight = ShipperLimits(records: 10_000, decodedBytes: 64 << 20, expandedBytes: 1 << 20)
        do {
            _ = try LokiPush.inputs([stream], orgID: "acme", headerTenant: nil, defaultTenant: nil, parser: parser, limits: tight)
            Issue.record("a push expanding past the limit was taken")
        } catch {
            #expect(error.code == .requestTooLarge)
        }
    }

    @Test("Loki protobuf: a label set of a million labels is refused after the 65th; entries are counted on the wire")
    func lokiProtobuf() throws {
        var stream = Logpipe_Loki_Stream()
        stream.labels = "{" + (0..<100_000).map { #"a\#($0)="""# }.joined(separator: ",") + "}"
        var request = Logpipe_Loki_PushRequest()
        request.streams = [stream]
        do {
            _ = try LokiPush.decode(protobuf: Array(try request.serializedData()))
            Issue.record("100,000 labels passed")
        } catch let error as IngestError {
            #expect(error.code == .invalidAttributes)
        }
        var entries = Logpipe_Loki_Stream()
        entries.labels = "{}"
        entries.entries = Array(repeating: Logpipe_Loki_Entry(), count: 10_001)
        request.streams = [entries]
        do {
            _ = try LokiPush.inspect(protobuf: Array(try request.serializedData()), limits: limits)
            Issue.record("10,001 entries passed")
        } catch let error as IngestError {
            #expect(error.code == .tooManyLogs)
        }
    }

    @Test("the mapping stops when the request is no longer wanted")
    func stops() {
        do {
            _ = try OTLPLogs.inputs(
                request(resource: [], records: 1000), headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id",
                parser: parser, fromJSON: false, limits: limits, shouldStop: { true })
            Issue.record("the mapping ran to the end")
        } catch {
            #expect(error.code == .requestAbandoned)
        }
    }
}
