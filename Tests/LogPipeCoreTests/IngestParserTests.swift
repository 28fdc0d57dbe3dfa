import Foundation
import LogPipeCore
import Testing

@Suite("Ingest body validation")
struct IngestParserTests {
    let parser = IngestParser(maxLogBytes: 64)

    func json(_ text: String, header: String? = nil) throws(IngestError) -> LogInput {
        try parser.parseJSON(Data(text.utf8), headerTenant: header)
    }

    @Test("a full JSON log keeps every field")
    func fullObject() throws {
        let body = #"""
            {"tenant_id":"acme","text":"hello","log_id":"l-1","timestamp":"2026-11-29T10:00:00Z","level":"info",
             "source":"web-1","attributes":{"user":"u1","n":3,"ratio":0.5,"ok":true}}
            """#
        let input = try IngestParser(maxLogBytes: 1024).parseJSON(Data(body.utf8), headerTenant: nil)
        #expect(input.tenantID.rawValue == "acme")
        #expect(input.text == "hello")
        #expect(input.logID == "l-1")
        #expect(input.timestamp == "2026-11-29T10:00:00Z")
        #expect(input.level == "info")
        #expect(input.source == "web-1")
        #expect(input.attributes == ["user": .string("u1"), "n": .int(3), "ratio": .double(0.5), "ok": .bool(true)])
    }

    @Test(
        "the API and the worker hold a log's fields to one set of rules: what the API refuses, the worker finds in a work message, by field",
        arguments: [
            (#""timestamp":"yesterday""#, "timestamp"), (#""level":"""#, "level"),
            ("\"level\":\"\(String(repeating: "l", count: 33))\"", "level"), (#""source":"""#, "source"),
            ("\"source\":\"\(String(repeating: "s", count: 257))\"", "source"), (#""attributes":{"":1}"#, "attributes"),
            (#""attributes":{"a\u0001":1}"#, "attributes"),
            ("\"attributes\":{\((0..<65).map { "\"k\($0)\":1" }.joined(separator: ","))}", "attributes"),
            (#""attributes":{"k":"\#(String(repeating: "v", count: 60))"}"#, "size"), (#""level":"info","source":"web""#, ""),
        ])
    func oneSetOfRules(_ member: String, _ field: String) throws {
        let body = #"{"tenant_id":"acme","text":"short",\#(member)}"#
        let api = Result { () throws(IngestError) in try json(body) }
        // The same fields in a work message, read by the one reader, reach the worker's check without the API's.
        var record = LogRecord(
            tenantID: TenantID("acme")!, logID: "l-1", text: "short", receivedAt: "2026-12-07T06:00:00.000Z", requestID: "r-1")
        record.fields = try Array(body.utf8).withUnsafeBytes { bytes in
            var fields = LogFields()
            var scanner = JSONScanner(bytes)
            try scanner.object { key, scanner throws(JSONScanner.Failure) in
                if try !fields.read(key, &scanner) { try scanner.skipValue() }
            }
            return fields
        }
        let worker = WorkValidation(maxLogBytes: 64).problem(record, now: UnixTime(rfc3339: "2026-12-07T06:00:01Z")!)
        if field.isEmpty {
            #expect(throws: Never.self) { try api.get() }
            #expect(worker == nil)
        } else {
            #expect(throws: IngestError.self) { try api.get() }
            #expect(worker == field)
        }
    }

    @Test("a log's text and attributes together are held to the log size limit, as the worker holds them")
    func textAndAttributesTogether() throws {
        let attributes = (0..<4).map { #""k\#($0)":"\#(String(repeating: "v", count: 12))""# }.joined(separator: ",")
        do {
            _ = try json(#"{"tenant_id":"acme","text":"short","attributes":{\#(attributes)}}"#)
            Issue.record("a log over the limit with its attributes was accepted")
        } catch {
            #expect(error.code == .logTooLarge)
            #expect(error.message.contains("text and attributes"))
        }
    }

    @Test("the header may give the tenant, and must agree with the body when both do")
    func headerTenant() throws {
        #expect(try json(#"{"text":"x"}"#, header: "acme").tenantID.rawValue == "acme")
        #expect(try json(#"{"text":"x","tenant_id":"acme"}"#, header: "acme").tenantID.rawValue == "acme")
        #expect(throws: IngestError(.tenantMismatch, "'tenant_id' in the body and the X-Tenant-ID header differ")) {
            try json(#"{"text":"x","tenant_id":"acme"}"#, header: "other")
        }
    }

    @Test(
        "invalid JSON bodies get their own error codes",
        arguments: [
            (#"{"text":"#, "invalid_json"),
            ("", "invalid_json"),
            ("[1,2]", "invalid_body"),
            ("\"text\"", "invalid_body"),
            (#"{"text":"x"}"#, "missing_tenant_id"),
            (#"{"tenant_id":"acme"}"#, "missing_text"),
            (#"{"tenant_id":"acme","text":""}"#, "missing_text"),
            (#"{"tenant_id":"acme","text":null}"#, "missing_text"),
            (#"{"tenant_id":"acme","text":5}"#, "invalid_field"),
            (#"{"tenant_id":"acme","text":"x","extra":1}"#, "unknown_field"),
            (#"{"tenant_id":"../x","text":"x"}"#, "invalid_tenant_id"),
            (#"{"tenant_id":"a.b","text":"x"}"#, "invalid_tenant_id"),
            (#"{"tenant_id":"$x","text":"x"}"#, "invalid_tenant_id"),
            (#"{"tenant_id":"A","text":"x"}"#, "invalid_tenant_id"),
            (#"{"tenant_id":7,"text":"x"}"#, "invalid_field"),
            (#"{"tenant_id":"acme","text":"x","log_id":"a b"}"#, "invalid_log_id"),
            (#"{"tenant_id":"acme","text":"x","log_id":""}"#, "invalid_log_id"),
            (#"{"tenant_id":"acme","text":"x","timestamp":"yesterday"}"#, "invalid_timestamp"),
            (#"{"tenant_id":"acme","text":"x","level":""}"#, "invalid_field"),
            (#"{"tenant_id":"acme","text":"x","attributes":{"a":{"b":1}}}"#, "invalid_attributes"),
            (#"{"tenant_id":"acme","text":"x","attributes":{"a":[1]}}"#, "invalid_attributes"),
            (#"{"tenant_id":"acme","text":"x","attributes":{"a":null}}"#, "invalid_attributes"),
            (#"{"tenant_id":"acme","text":"x","attributes":[]}"#, "invalid_attributes"),
            (#"{"tenant_id":"acme","text":"\#(String(repeating: "y", count: 65))"}"#, "log_too_large"),
        ])
    func rejected(_ body: String, _ code: String) {
        do {
            _ = try json(body)
            Issue.record("accepted an invalid body")
        } catch {
            #expect(error.code.rawValue == code)
        }
    }

    @Test("error messages never echo log contents")
    func messagesWithoutContent() {
        let secret = "alice@example.com"
        let bodies = [
            #"{"tenant_id":"\#(secret)","text":"x"}"#,
            #"{"tenant_id":"acme","text":"x","\#(secret)":1}"#,
            #"{"tenant_id":"acme","text":"x","log_id":"\#(secret)"}"#,
            #"{"tenant_id":"acme","text":"x","timestamp":"\#(secret)"}"#,
        ]
        for body in bodies {
            do {
                _ = try json(body)
                Issue.record("accepted an invalid body")
            } catch {
                #expect(!error.message.contains("alice"))
            }
        }
    }

    @Test("text/plain takes tenant and log id from headers")
    func plainText() throws {
        let input = try parser.parseText(Data("plain line".utf8), headerTenant: "acme", headerLogID: "x-1")
        #expect(input == LogInput(tenantID: TenantID("acme")!, logID: "x-1", text: "plain line"))
        #expect(throws: IngestError.self) { try parser.parseText(Data(), headerTenant: "acme", headerLogID: nil) }
        #expect(throws: IngestError.self) { try parser.parseText(Data("x".utf8), headerTenant: nil, headerLogID: nil) }
        #expect(throws: IngestError.self) { try parser.parseText(Data([0xFF, 0xFE]), headerTenant: "acme", headerLogID: nil) }
        #expect(throws: IngestError.self) { try parser.parseText(Data("x".utf8), headerTenant: "acme", headerLogID: "a b") }
    }

    @Test("the record gets a UUIDv7 when the client gave no log id, and the request's stamps")
    func record() throws {
        let input = try json(#"{"tenant_id":"acme","text":"x"}"#)
        let record = input.record(requestID: "req-1", receivedAt: UnixTime(milliseconds: 1_764_374_400_123))
        #expect(record.logID.count == 36 && Array(record.logID)[14] == "7")
        #expect(record.receivedAt == "2025-11-29T00:00:00.123Z")
        #expect(record.requestID == "req-1")
        #expect(record.v == 1)
        let encoded = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        #expect(encoded.contains(#""tenant_id":"acme""#))
        #expect(!encoded.contains("timestamp"))
    }
}

/// `application/json` bodies that are arrays: batches with NDJSON's rules (a shipper that sends JSON arrays needs no NDJSON).
@Suite("JSON array batches")
struct JSONArrayBatchTests {
    let parser = IngestParser(maxLogBytes: 64, maxBatchLogs: 3)

    func parse(_ text: String, header: String? = nil) throws(IngestError) -> (inputs: [LogInput], isBatch: Bool) {
        try parser.parseJSONBody(Data(text.utf8), headerTenant: header)
    }

    @Test("an array of objects is a batch; one object is one log; whitespace before either is fine")
    func arrays() throws {
        let batch = try parse(#" [{"tenant_id":"a","text":"one"}, {"text":"two","log_id":"l-2"}]"#, header: "a")
        #expect(batch.isBatch)
        #expect(batch.inputs.map(\.text) == ["one", "two"])
        #expect(batch.inputs.map(\.tenantID.rawValue) == ["a", "a"])
        #expect(batch.inputs[1].logID == "l-2")
        let single = try parse("\n" + #"{"tenant_id":"a","text":"one"}"#)
        #expect(!single.isBatch)
        #expect(single.inputs.count == 1)
    }

    @Test("every element is checked; bad ones are listed by position and nothing is accepted")
    func allOrNothing() {
        do {
            _ = try parse(#"[{"tenant_id":"a","text":"ok"}, 7, {"tenant_id":"a"}]"#)
            Issue.record("accepted")
        } catch {
            #expect(error.code == .invalidBatch)
            #expect(error.lineErrors.map(\.line) == [2, 3])
            #expect(error.lineErrors.map(\.code) == [.invalidBody, .missingText])
            #expect(error.message.contains("2 of 3 elements are invalid"))
        }
    }

    @Test(
        "limits and malformed arrays",
        arguments: [
            ("[]", "empty_batch"), ("[", "invalid_json"), (#"[{"tenant_id":"a","text":"x"},]"#, "invalid_json"),
            (#"[{"tenant_id":"a","text":"x"}] x"#, "invalid_json"),
            (#"[{"tenant_id":"a","text":"x"},{"tenant_id":"a","text":"x"},{"tenant_id":"a","text":"x"},{"tenant_id":"a","text":"x"}]"#, "too_many_logs"),
            (#"[{"tenant_id":"a","text":""# + String(repeating: "x", count: 80) + #""}]"#, "line_too_large"),
        ])
    func limits(_ body: String, _ code: String) {
        do {
            _ = try parse(body)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.code.rawValue == code)
        }
    }
}
