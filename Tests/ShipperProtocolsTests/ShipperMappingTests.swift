import Foundation
import LogPipeCore
import SnappyBridge
import SwiftProtobuf
import Testing

@testable import ShipperProtocols

@Suite("OTLP/HTTP logs mapping")
struct OTLPMappingTests {
    let parser = IngestParser(maxLogBytes: 1024, maxBatchLogs: 100)

    /// The OTLP specification's example request (opentelemetry-proto examples/logs.json), with a tenant.
    static let specExample = #"""
        {"resourceLogs":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"my.service"}},
                                                    {"key":"tenant.id","value":{"stringValue":"acme"}}]},
          "scopeLogs":[{"scope":{"name":"my.library","version":"1.0.0",
                                 "attributes":[{"key":"my.scope.attribute","value":{"stringValue":"some scope attribute"}}]},
            "logRecords":[{"timeUnixNano":1544712660300000000,"observedTimeUnixNano":1544712660300000000,
              "severityText":"Information","traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174",
              "body":{"stringValue":"Example log record"},
              "attributes":[{"key":"string.attribute","value":{"stringValue":"some string"}},
                            {"key":"boolean.attribute","value":{"boolValue":true}},
                            {"key":"int.attribute","value":{"intValue":10}},
                            {"key":"double.attribute","value":{"doubleValue":637.704}},
                            {"key":"array.attribute","value":{"arrayValue":{"values":[{"stringValue":"many"},{"stringValue":"values"}]}}},
                            {"key":"map.attribute","value":{"kvlistValue":{"values":[{"key":"some.map.key","value":{"stringValue":"some value"}}]}}}]}]}]}]}
        """#

    @Test("the specification's JSON example maps every field")
    func specExampleJSON() throws {
        let request = try #require(OTLPLogs.decode(json: Data(Self.specExample.utf8)))
        let mapped = try OTLPLogs.inputs(request, headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: true)
        #expect(mapped.rejected == 0)
        let log = try #require(mapped.inputs.first)
        #expect(log.tenantID.rawValue == "acme")
        #expect(log.text == "Example log record")
        #expect(log.level == "Information")
        #expect(log.source == "my.service")
        #expect(log.timestamp == "2018-12-13T14:51:00.300Z")
        #expect(log.attributes?["trace_id"] == .string("5b8efff798038103d269b633813fc60c"))
        #expect(log.attributes?["span_id"] == .string("eee19b7ec3c1b174"))
        #expect(log.attributes?["string.attribute"] == .string("some string"))
        #expect(log.attributes?["boolean.attribute"] == .bool(true))
        #expect(log.attributes?["int.attribute"] == .int(10))
        #expect(log.attributes?["double.attribute"] == .double(637.704))
        #expect(log.attributes?["array.attribute"] == .string(#"["many","values"]"#))
        #expect(log.attributes?["map.attribute.some.map.key"] == .string("some value"))
        #expect(log.attributes?["my.scope.attribute"] == .string("some scope attribute"))
        #expect(log.attributes?["otel.scope.name"] == .string("my.library"))
        #expect(log.attributes?["service.name"] == .string("my.service"))
    }

    func record(_ body: Logpipe_Otlp_AnyValue?, severity: Int32 = 0, uid: String? = nil) -> Logpipe_Otlp_LogRecord {
        var record = Logpipe_Otlp_LogRecord()
        if let body { record.body = body }
        record.severityNumber = severity
        record.traceID = Data([0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f, 0xc6, 0x0c])
        record.observedTimeUnixNano = 1_764_590_400_000_000_000
        if let uid {
            var pair = Logpipe_Otlp_KeyValue()
            pair.key = "log.record.uid"
            pair.value.stringValue = uid
            record.attributes = [pair]
        }
        return record
    }

    func request(_ records: [Logpipe_Otlp_LogRecord], tenant: String? = "acme") -> OTLPLogs.Request {
        var resourceLogs = Logpipe_Otlp_ResourceLogs()
        if let tenant {
            var pair = Logpipe_Otlp_KeyValue()
            pair.key = "tenant.id"
            pair.value.stringValue = tenant
            resourceLogs.resource.attributes = [pair]
        }
        var scope = Logpipe_Otlp_ScopeLogs()
        scope.logRecords = records
        resourceLogs.scopeLogs = [scope]
        var request = OTLPLogs.Request()
        request.resourceLogs = [resourceLogs]
        return request
    }

    func text(_ value: String) -> Logpipe_Otlp_AnyValue {
        var any = Logpipe_Otlp_AnyValue()
        any.stringValue = value
        return any
    }

    @Test("protobuf: ids as hex, severity numbers named, observed time used, log.record.uid becomes the log id, structured bodies as JSON")
    func protobuf() throws {
        var map = Logpipe_Otlp_AnyValue()
        var entry = Logpipe_Otlp_KeyValue()
        entry.key = "event"
        entry.value.intValue = 7
        map.kvlistValue.values = [entry]
        let bytes = try request([record(text("hello"), severity: 13, uid: "uid-1"), record(map, severity: 18)]).serializedData()
        let decoded = try #require(OTLPLogs.decode(protobuf: bytes))
        let mapped = try OTLPLogs.inputs(decoded, headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
        #expect(mapped.inputs.map(\.text) == ["hello", #"{"event":7}"#])
        #expect(mapped.inputs.map(\.level) == ["WARN", "ERROR2"])
        #expect(mapped.inputs[0].logID == "uid-1")
        #expect(mapped.inputs[0].attributes?["log.record.uid"] == nil)
        #expect(mapped.inputs[0].attributes?["trace_id"] == .string("5b8efff798038103d269b633813fc60c"))
        #expect(mapped.inputs[0].timestamp == "2025-12-01T12:00:00.000Z")
    }

    @Test("a record that cannot be a log is rejected alone and counted; the tenant comes from the key, the header or the resource")
    func partialAndTenants() throws {
        let mixed = request([record(text("ok")), record(nil), record(text(String(repeating: "x", count: 2000)))])
        let mapped = try OTLPLogs.inputs(mixed, headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
        #expect(mapped.inputs.count == 1)
        #expect(mapped.rejected == 2)
        #expect(mapped.firstError?.code == .missingText)

        let noTenant = request([record(text("a"))], tenant: nil)
        #expect(
            try OTLPLogs.inputs(noTenant, headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
                .firstError?.code == .missingTenantID)
        #expect(
            try OTLPLogs.inputs(noTenant, headerTenant: "beta", defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
                .inputs.first?.tenantID.rawValue == "beta")
        #expect(
            try OTLPLogs.inputs(noTenant, headerTenant: nil, defaultTenant: TenantID("keyed"), tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
                .inputs.first?.tenantID.rawValue == "keyed")
        let mismatch = try OTLPLogs.inputs(
            request([record(text("a"))]), headerTenant: "beta", defaultTenant: nil, tenantAttribute: "tenant.id",
            parser: parser, fromJSON: false)
        #expect(mismatch.inputs.isEmpty)
        #expect(mismatch.firstError?.code == .tenantMismatch)
        let custom = try OTLPLogs.inputs(
            request([record(text("a"))]), headerTenant: nil, defaultTenant: nil, tenantAttribute: "k8s.namespace.name",
            parser: parser, fromJSON: false)
        #expect(custom.firstError?.code == .missingTenantID, "only the configured attribute names the tenant")
    }

    @Test("a resource attribute larger than a log rejects its records instead of being copied into each (found in review)")
    func largeSharedAttributes() throws {
        var request = request((0..<3).map { _ in record(text("x")) })
        var big = Logpipe_Otlp_KeyValue()
        big.key = "huge"
        big.value.stringValue = String(repeating: "y", count: 2000)
        request.resourceLogs[0].resource.attributes.append(big)
        let mapped = try OTLPLogs.inputs(request, headerTenant: nil, defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: false)
        #expect(mapped.inputs.isEmpty)
        #expect(mapped.rejected == 3)
        #expect(mapped.firstError?.code == .logTooLarge)
        #expect(OTLPLogs.recordCount(request) == 3)
    }

    @Test("the tenant: X-Tenant-ID, else a single-tenant key, else the resource; a tenant the key may not write rejects its resource")
    func tenantOrder() {
        let fromResource = request([record(text("a"))], tenant: "payments")
        func tenant(header: String?, key: String?, allows: @escaping (TenantID) -> Bool = { _ in true }) -> OTLPLogs.Mapped {
            try! OTLPLogs.inputs(
                fromResource, headerTenant: header, defaultTenant: key.flatMap(TenantID.init), tenantAttribute: "tenant.id",
                parser: parser, fromJSON: false, allows: allows)
        }
        #expect(tenant(header: nil, key: "acme").inputs.first?.tenantID.rawValue == "acme")
        #expect(tenant(header: nil, key: nil).inputs.first?.tenantID.rawValue == "payments")
        #expect(tenant(header: "payments", key: "acme").inputs.first?.tenantID.rawValue == "payments")
        let denied = tenant(header: nil, key: nil, allows: { $0.rawValue != "payments" })
        #expect(denied.inputs.isEmpty && denied.rejected == 1 && denied.firstError?.code == .tenantNotAllowed)
    }

    @Test("responses: empty on full success, partialSuccess otherwise, in the request's encoding")
    func responses() throws {
        #expect(OTLPLogs.response(rejected: 0, message: nil, json: false).isEmpty)
        #expect(String(decoding: OTLPLogs.response(rejected: 0, message: nil, json: true), as: UTF8.self) == "{}")
        let partial = try Logpipe_Otlp_ExportLogsServiceResponse(serializedBytes: OTLPLogs.response(rejected: 2, message: "missing_text", json: false))
        #expect(partial.partialSuccess.rejectedLogRecords == 2)
        #expect(partial.partialSuccess.errorMessage == "missing_text")
        #expect(String(decoding: OTLPLogs.response(rejected: 1, message: "m", json: true), as: UTF8.self).contains(#""rejectedLogRecords":"1""#))
    }

    @Test("garbage is not a request", arguments: ["not json", #"{"resourceLogs": 5}"#])
    func garbage(_ body: String) {
        #expect(OTLPLogs.decode(json: Data(body.utf8)) == nil)
    }

    @Test("protobuf garbage is not a request")
    func protobufGarbage() {
        #expect(OTLPLogs.decode(protobuf: Data([0xff, 0xff, 0xff, 0xff, 0x0f])) == nil)
    }
}

@Suite("Loki push mapping")
struct LokiMappingTests {
    let parser = IngestParser(maxLogBytes: 1024, maxBatchLogs: 100)

    @Test("the Loki documentation's JSON push: labels become attributes, the line the text, nanoseconds the timestamp")
    func json() throws {
        let body =
            #"{"streams":[{"stream":{"label":"value","level":"warn","service_name":"api"},"values":[["1570818238000000000","fizzbuzz"],["1570818239000000000","second",{"trace_id":"abc"}]]}]}"#
        let streams = try LokiPush.decode(json: Data(body.utf8))
        let logs = try LokiPush.inputs(streams, orgID: "acme", headerTenant: nil, defaultTenant: nil, parser: parser)
        #expect(logs.map(\.text) == ["fizzbuzz", "second"])
        #expect(logs[0].timestamp == "2019-10-11T18:23:58.000Z")
        #expect(logs[0].level == "warn")
        #expect(logs[0].source == "api")
        #expect(logs[0].attributes == ["label": .string("value"), "level": .string("warn"), "service_name": .string("api")])
        #expect(logs[1].attributes?["trace_id"] == .string("abc"))
        #expect(logs.allSatisfy { $0.tenantID.rawValue == "acme" })
    }

    @Test(
        "JSON that is not a push: invalid_json when it is not JSON, invalid_loki naming what is wrong in its shape",
        arguments: [
            ("not json", "invalid_json", "not valid JSON"),
            (#"{"streams":[{"values":[["1","a"]]}]} trailing"#, "invalid_json", "not valid JSON"),
            (#"{"streams":[{"stream":{},"values":[["1","a"]]}],"x":[1,"#, "invalid_json", "not valid JSON"),
            (#"[]"#, "invalid_loki", "the body must be"),
            (#"{}"#, "invalid_loki", "the body must be"),
            (#"{"streams":{}}"#, "invalid_loki", "the body must be"),
            (#"{"streams":[{"stream":{"a":"b"}}]}"#, "invalid_loki", "the body must be"),
            (#"{"streams":[{"stream":{"a":1},"values":[]}]}"#, "invalid_loki", "stream labels must be strings"),
            (#"{"streams":[{"stream":null,"values":[]}]}"#, "invalid_loki", "stream labels must be strings"),
            (#"{"streams":[{"values":[["1"]]}]}"#, "invalid_loki", "each value must be"),
            (#"{"streams":[{"values":[[1,"a"]]}]}"#, "invalid_loki", "each value must be"),
            (#"{"streams":[{"values":[["1","a",{},"x"]]}]}"#, "invalid_loki", "each value must be"),
            (#"{"streams":[{"values":[["1","a",{"k":2}]]}]}"#, "invalid_loki", "structured metadata must be strings"),
            (#"{"streams":[{"values":[["-5","a"]]}]}"#, "invalid_loki", "Unix nanoseconds"),
        ])
    func jsonShapes(_ body: String, _ code: String, _ message: String) {
        do {
            _ = try LokiPush.decode(json: Data(body.utf8))
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code.rawValue == code, "\(body)")
            #expect(error.message.contains(message), "\(body): \(error.message)")
        }
    }

    @Test("JSON members in any order, unknown members skipped, a label given twice keeps its last value, labels sorted")
    func jsonOrderAndDuplicates() throws {
        let body = #"{"extra":{"n":[1,2]},"streams":[{"values":[["5","x",{"z":"1","a":"2"}]],"other":true,"stream":{"b":"1","a":"2","b":"3"}}]}"#
        let streams = try LokiPush.decode(json: Data(body.utf8))
        #expect(streams.count == 1)
        #expect(streams[0].labels.map(\.key) == ["a", "b"] && streams[0].labels.map(\.value) == ["2", "3"])
        #expect(streams[0].entries.count == 1 && streams[0].entries[0].nanoseconds == 5 && streams[0].entries[0].line == "x")
        #expect(streams[0].entries[0].metadata.map(\.key) == ["a", "z"])
    }

    @Test("protobuf in a snappy block, with structured metadata")
    func protobuf() throws {
        var entry = Logpipe_Loki_Entry()
        entry.timestamp.seconds = 1_570_818_238
        entry.timestamp.nanos = 500_000_000
        entry.line = "from promtail"
        var pair = Logpipe_Loki_LabelPair()
        pair.name = "pod"
        pair.value = "web-1"
        entry.structuredMetadata = [pair]
        var stream = Logpipe_Loki_Stream()
        stream.labels = #"{job="varlogs", filename="/var/log/syslog", msg="a \"quoted\" \\ value"}"#
        stream.entries = [entry]
        var request = Logpipe_Loki_PushRequest()
        request.streams = [stream]
        let body = Data(SnappyBlock.compress(Array(try request.serializedData())))
        let streams = try LokiPush.decode(snappyProtobuf: body, limit: 1 << 20)
        let logs = try LokiPush.inputs(streams, orgID: nil, headerTenant: "acme", defaultTenant: nil, parser: parser)
        #expect(logs.count == 1)
        #expect(logs[0].text == "from promtail")
        #expect(logs[0].timestamp == "2019-10-11T18:23:58.500Z")
        #expect(logs[0].source == "varlogs")
        #expect(
            logs[0].attributes == [
                "job": .string("varlogs"), "filename": .string("/var/log/syslog"), "pod": .string("web-1"),
                "msg": .string(#"a "quoted" \ value"#),
            ])
    }

    @Test("a bad entry rejects the whole push, listing it; snappy that is corrupt or too large is refused")
    func rejections() throws {
        let body = #"{"streams":[{"stream":{"a":"b"},"values":[["1","ok"],["2",""]]}]}"#
        do {
            _ = try LokiPush.inputs(try LokiPush.decode(json: Data(body.utf8)), orgID: "acme", headerTenant: nil, defaultTenant: nil, parser: parser)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidBatch)
            #expect(error.lineErrors.map(\.line) == [2])
        }
        #expect(throws: IngestError.self) { try LokiPush.inputs([], orgID: "acme", headerTenant: "beta", defaultTenant: nil, parser: parser) }
        #expect(throws: IngestError.self) { try LokiPush.decode(snappyProtobuf: Data("not snappy at all".utf8), limit: 1 << 20) }
        let big = Data(SnappyBlock.compress([UInt8](repeating: 0x41, count: 100_000)))
        do {
            _ = try LokiPush.decode(snappyProtobuf: big, limit: 1000)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .requestTooLarge)
        }
    }

    @Test("labels larger than a log reject the entries they would be copied into; overflowing times are left out (found in review)")
    func largeLabelsAndTimes() throws {
        let label = String(repeating: "v", count: 2000)
        let body = #"{"streams":[{"stream":{"big":"\#(label)"},"values":[["1","a"],["2","b"]]}]}"#
        do {
            _ = try LokiPush.inputs(try LokiPush.decode(json: Data(body.utf8)), orgID: "acme", headerTenant: nil, defaultTenant: nil, parser: parser)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidBatch)
            #expect(error.lineErrors.map(\.code) == [.logTooLarge, .logTooLarge])
        }
        var timestamp = Logpipe_Loki_Timestamp()
        timestamp.seconds = 9_300_000_000_000
        #expect(LokiPush.nanoseconds(timestamp) == nil)
        timestamp.seconds = 1
        timestamp.nanos = 5
        #expect(LokiPush.nanoseconds(timestamp) == 1_000_000_005)
    }

    @Test(
        "label sets",
        arguments: [
            (#"{}"#, 0), (#"{a="b"}"#, 1), (#" { a = "b" , c="d" } "#, 2), (#"{a="b",}"#, 1), (#"{a=b}"#, -1), (#"{a="b""#, -1),
            (#"a="b""#, -1), (#"{1a="b"}"#, -1), (#"{a="b"} x"#, -1), (#"{a="\n"}"#, 1),
        ])
    func labels(_ text: String, _ count: Int) {
        let parsed = LokiPush.parseLabels(text)
        if count < 0 { #expect(parsed == nil, "\(text)") } else { #expect(parsed?.count == count, "\(text)") }
    }
}
