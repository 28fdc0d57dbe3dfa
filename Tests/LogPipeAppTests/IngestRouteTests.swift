import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeApp
import LogPipeCore
import TestSupport
import Testing

func decode(_ buffer: ByteBuffer) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(buffer.readableBytesView)) as? [String: Any])
}

func errorCode(_ body: [String: Any]) -> String? {
    (body["error"] as? [String: Any])?["code"] as? String
}

@Suite("POST /ingest over HTTP (recording publisher)")
struct IngestRouteTests {
    func app(_ publisher: RecordingPublisher, maxRequestBytes: Int = 8 << 20, checks: [ReadinessCheck] = []) -> some ApplicationProtocol {
        var configuration = LogPipeConfiguration()
        configuration.limits.maxRequestBytes = maxRequestBytes
        configuration.maxLogBytes = 1024
        return Application(router: IngestAPI(publisher: publisher, configuration: configuration, extraChecks: checks).router())
    }

    @Test("readiness in serve mode also names a failing worker check (consumer or store)")
    func workerReadiness() async throws {
        let checks = [ReadinessCheck(name: "consumer") { nil }, ReadinessCheck(name: "store") { "SQLite is not readable" }]
        try await app(RecordingPublisher(), checks: checks).test(.router) { client in
            try await client.execute(uri: "/readiness", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try decode(response.body)
                #expect(body["failing_check"] as? String == "store")
                let states = try #require(body["checks"] as? [String: Any])
                #expect((states["consumer"] as? [String: Any])?["ok"] as? Bool == true)
                #expect((states["broker"] as? [String: Any])?["ok"] as? Bool == true)
            }
        }
        try await app(RecordingPublisher(), checks: [ReadinessCheck(name: "store") { nil }]).test(.router) { client in
            try await client.execute(uri: "/readiness", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test("a JSON log is answered 202 with the seed design's body, plus request id")
    func acceptedJSON() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "application/json", HTTPField.Name("X-Request-ID")!: "req-42"],
                body: ByteBuffer(string: #"{"tenant_id":"acme","text":"hello","log_id":"l-1"}"#)
            ) { response in
                #expect(response.status == .accepted)
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] == "req-42")
                #expect(response.headers[.contentType] == "application/json")
                let body = try decode(response.body)
                #expect(body["status"] as? String == "accepted")
                #expect(body["message"] as? String == "Log queued for processing")
                #expect(body["log_id"] as? String == "l-1")
                #expect(body["tenant_id"] as? String == "acme")
                #expect(body["request_id"] as? String == "req-42")
            }
        }
        #expect(publisher.records.map(\.logID) == ["l-1"])
    }

    @Test("a text log takes its tenant from X-Tenant-ID and gets a generated log id")
    func acceptedText() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "text/plain; charset=utf-8", HTTPField.Name("X-Tenant-ID")!: "acme"],
                body: ByteBuffer(string: "plain line")
            ) { response in
                #expect(response.status == .accepted)
                let body = try decode(response.body)
                let logID = try #require(body["log_id"] as? String)
                #expect(logID.count == 36)
                let requestID = try #require(body["request_id"] as? String)
                #expect(response.headers[HTTPField.Name("X-Request-ID")!] == requestID)
            }
        }
        let record = try #require(publisher.records.first)
        #expect(record.text == "plain line")
        #expect(record.tenantID.rawValue == "acme")
    }

    @Test(
        "invalid requests get the right status and code and publish nothing",
        arguments: [
            ("application/json", nil, "{not json", 400, "invalid_json"),
            ("application/json", nil, #"{"tenant_id":"../x","text":"x"}"#, 400, "invalid_tenant_id"),
            ("application/json", nil, #"{"tenant_id":"a.b","text":"x"}"#, 400, "invalid_tenant_id"),
            ("application/json", nil, #"{"tenant_id":"$x","text":"x"}"#, 400, "invalid_tenant_id"),
            ("application/json", nil, #"{"tenant_id":"A","text":"x"}"#, 400, "invalid_tenant_id"),
            ("application/json", nil, #"{"tenant_id":"sqlite_x","text":"x"}"#, 400, "reserved_tenant"),
            ("application/json", nil, #"{"tenant_id":"acme","text":"x","attributes":{"a\u0000b":"v"}}"#, 400, "invalid_attributes"),
            ("text/plain", "sqlite_master", "hello", 400, "reserved_tenant"),
            ("application/x-ndjson", nil, "{\"tenant_id\":\"acme\",\"text\":\"x\"}\n{\"tenant_id\":\"sqlite_x\",\"text\":\"x\"}", 400, "invalid_batch"),
            ("application/json", nil, #"{"tenant_id":"\#(String(repeating: "a", count: 65))","text":"x"}"#, 400, "invalid_tenant_id"),
            ("application/json", "other", #"{"tenant_id":"acme","text":"x"}"#, 400, "tenant_mismatch"),
            ("application/json", nil, #"{"tenant_id":"acme"}"#, 400, "missing_text"),
            ("application/json", nil, #"{"tenant_id":"acme","text":""}"#, 400, "missing_text"),
            ("text/plain", "acme", "", 400, "missing_text"),
            ("text/plain", nil, "hello", 400, "missing_tenant_id"),
            ("text/plain", "A", "hello", 400, "invalid_tenant_id"),
            ("application/xml", "acme", "<log/>", 415, "unsupported_media_type"),
            ("text/plain; charset=latin1", "acme", "x", 415, "unsupported_media_type"),
            ("application/json", nil, #"{"tenant_id":"acme","text":"\#(String(repeating: "y", count: 1025))"}"#, 413, "log_too_large"),
        ] as [(String, String?, String, Int, String)])
    func rejected(_ contentType: String, _ tenant: String?, _ body: String, _ status: Int, _ code: String) async throws {
        let publisher = RecordingPublisher()
        try await app(publisher).test(.router) { client in
            var headers: HTTPFields = [.contentType: contentType]
            if let tenant { headers[HTTPField.Name("X-Tenant-ID")!] = tenant }
            try await client.execute(uri: "/ingest", method: .post, headers: headers, body: ByteBuffer(string: body)) { response in
                #expect(response.status.code == status)
                let json = try decode(response.body)
                #expect(errorCode(json) == code)
                #expect(((json["error"] as? [String: Any])?["message"] as? String)?.isEmpty == false)
                #expect(json["request_id"] as? String == response.headers[HTTPField.Name("X-Request-ID")!])
            }
        }
        #expect(publisher.records.isEmpty)
    }

    @Test("a missing content type is 415 and a body over the request limit is 413")
    func limits() async throws {
        let publisher = RecordingPublisher()
        try await app(publisher, maxRequestBytes: 100).test(.router) { client in
            try await client.execute(uri: "/ingest", method: .post, body: ByteBuffer(string: "x")) { response in
                #expect(response.status.code == 415)
            }
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "text/plain", HTTPField.Name("X-Tenant-ID")!: "acme"],
                body: ByteBuffer(string: String(repeating: "z", count: 101))
            ) { response in
                #expect(response.status.code == 413)
                let json = try decode(response.body)
                #expect(errorCode(json) == "request_too_large")
            }
        }
        #expect(publisher.records.isEmpty)
    }

    @Test("publish failures are 503 with Retry-After and the failure's code")
    func brokerFailure() async throws {
        let publisher = RecordingPublisher(failure: .confirmTimeout)
        try await app(publisher).test(.router) { client in
            try await client.execute(
                uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                body: ByteBuffer(string: #"{"tenant_id":"acme","text":"x"}"#)
            ) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(response.headers[.retryAfter] == "1")
                let json = try decode(response.body)
                #expect(errorCode(json) == "confirm_timeout")
            }
        }
    }

    @Test(
        "every way the broker can fail a publish is a 503 with Retry-After and its own code, on every write route",
        arguments: [
            (PublishFailure.unavailable, "broker_unavailable"), (.connectionLost, "broker_unavailable"),
            (.blocked(published: false), "broker_blocked"), (.blocked(published: true), "broker_blocked"),
            (.confirmBacklog, "broker_backlog"), (.workBacklog, "broker_backlog"), (.confirmTimeout, "confirm_timeout"),
            (.rejected, "broker_rejected"), (.unroutable, "unroutable"),
        ])
    func everyPublishFailure(failure: PublishFailure, code: String) async throws {
        let publisher = RecordingPublisher(failure: failure)
        let requests: [(uri: String, type: String, body: String)] = [
            ("/ingest", "application/json", #"{"tenant_id":"acme","text":"x"}"#),
            ("/ingest", "application/x-ndjson", #"{"tenant_id":"acme","text":"x"}"#),
            ("/loki/api/v1/push", "application/json", #"{"streams":[{"stream":{"job":"a"},"values":[["1","x"]]}]}"#),
            ("/v1/logs", "application/json", #"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}"#),
        ]
        try await app(publisher).test(.router) { client in
            for request in requests {
                try await client.execute(
                    uri: request.uri, method: .post, headers: [.contentType: request.type, HTTPField.Name("X-Tenant-ID")!: "acme"],
                    body: ByteBuffer(string: request.body)
                ) { response in
                    #expect(response.status == .serviceUnavailable, "\(request.uri)")
                    #expect(response.headers[.retryAfter] == "1")
                    let json = try decode(response.body)
                    #expect(errorCode(json) == code)
                    #expect(response.headers[HTTPField.Name("X-Request-ID")!] == json["request_id"] as? String)
                }
            }
        }
    }

    @Test("health is 200; readiness names the failing check with 503")
    func healthAndReadiness() async throws {
        try await app(RecordingPublisher()).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readiness", method: .get) { #expect($0.status == .ok) }
        }
        try await app(RecordingPublisher(unready: ("broker", "down"))).test(.router) { client in
            try await client.execute(uri: "/health", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readiness", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                let body = try decode(response.body)
                #expect(body["failing_check"] as? String == "broker")
            }
        }
    }

    @Test("unknown routes and methods get JSON errors")
    func unknownRoutes() async throws {
        try await app(RecordingPublisher()).test(.router) { client in
            try await client.execute(uri: "/nope", method: .get) { response in
                #expect(response.status == .notFound)
                let json = try decode(response.body)
                #expect(errorCode(json) == "not_found")
            }
            try await client.execute(uri: "/ingest", method: .get) { response in
                #expect(response.status.code == 404 || response.status.code == 405)
                let json = try decode(response.body)
                #expect(errorCode(json) != nil)
            }
        }
    }
}
