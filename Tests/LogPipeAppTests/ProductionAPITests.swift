import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import TestSupport
import Testing
import ZlibBridge

@testable import LogPipeApp

/// One response, checked against openapi.yaml as it is taken.
struct CheckedResponse {
    var status: Int
    var headers: HTTPFields
    var body: Data
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body) as? [String: Any]) ?? [:] }
    var code: String? { (json["error"] as? [String: Any])?["code"] as? String }
}

@Suite("The production API: batches, gzip, limits, keys, rate limits, OpenAPI")
struct ProductionAPITests {
    static let spec = Result { try OpenAPIDocument.load() }

    struct Setup {
        var configuration = LogPipeConfiguration()
        var keys: APIKeyStore?
        var rateLimits: RateLimits?
        init() {
            configuration.maxLogBytes = 1024
            configuration.limits.maxBatchLogs = 50
            configuration.limits.maxRequestBytes = 64 * 1024
        }
    }

    func withAPI(
        _ setup: Setup = Setup(), publisher: RecordingPublisher = RecordingPublisher(),
        _ body: @Sendable (Client) async throws -> Void
    ) async throws {
        let api = IngestAPI(publisher: publisher, configuration: setup.configuration, keys: setup.keys, rateLimits: setup.rateLimits)
        try await Application(router: api.router()).test(.router) { client in try await body(Client(client: client)) }
    }

    /// Sends requests and checks every response against the spec.
    struct Client {
        let client: any TestClientProtocol

        func send(
            _ method: HTTPRequest.Method = .post, _ path: String = "/ingest", headers: HTTPFields = [:],
            body: [UInt8] = [], sourceLocation: SourceLocation = #_sourceLocation
        ) async throws -> CheckedResponse {
            let response = try await client.execute(
                uri: path, method: method, headers: headers,
                body: body.isEmpty ? nil : ByteBuffer(bytes: body)
            ) {
                CheckedResponse(status: Int($0.status.code), headers: $0.headers, body: Data($0.body.readableBytesView))
            }
            let spec = try ProductionAPITests.spec.get()
            let problems = spec.problems(
                method: method.rawValue, path: path, status: response.status,
                headers: response.headers, body: response.body)
            #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
            return response
        }

        func ndjson(_ lines: [String], headers: HTTPFields = [:], gzipped: Bool = false) async throws -> CheckedResponse {
            var headers = headers
            headers[.contentType] = "application/x-ndjson"
            var body = Array(lines.joined(separator: "\n").utf8)
            if gzipped {
                headers[.contentEncoding] = "gzip"
                body = gzip(body)
            }
            return try await send(headers: headers, body: body)
        }

        func json(_ text: String, headers: HTTPFields = [:]) async throws -> CheckedResponse {
            var headers = headers
            headers[.contentType] = "application/json"
            return try await send(headers: headers, body: Array(text.utf8))
        }
    }

    // MARK: - NDJSON batches

    @Test("an NDJSON batch is validated whole and published as one batch; the 202 lists tenants and log ids")
    func batch() async throws {
        let publisher = RecordingPublisher()
        try await withAPI(publisher: publisher) { client in
            let response = try await client.ndjson([
                #"{"tenant_id":"alpha","text":"one","log_id":"given-1"}"#, "",
                #"{"tenant_id":"beta","text":"two"}"#, "   ",
                #"{"tenant_id":"alpha","text":"three","level":"warn"}"#, "",
            ])
            #expect(response.status == 202)
            #expect(response.json["accepted"] as? Int == 3)
            #expect(response.json["tenant_ids"] as? [String] == ["alpha", "beta"])
            let logIDs = try #require(response.json["log_ids"] as? [String])
            #expect(logIDs.count == 3 && logIDs[0] == "given-1" && Set(logIDs).count == 3)
        }
        #expect(publisher.batches.map(\.count) == [3])
        #expect(publisher.records.map(\.text) == ["one", "two", "three"])
    }

    @Test("a batch with bad lines is a 400 listing each bad line with its code; nothing is published")
    func badLines() async throws {
        let publisher = RecordingPublisher()
        try await withAPI(publisher: publisher) { client in
            let response = try await client.ndjson([
                #"{"tenant_id":"alpha","text":"fine"}"#,
                #"{"tenant_id":"alpha"}"#,
                "",
                #"not json"#,
                #"{"tenant_id":"Bad Tenant","text":"x"}"#,
            ])
            #expect(response.status == 400)
            #expect(response.code == "invalid_batch")
            let lines = try #require((response.json["error"] as? [String: Any])?["lines"] as? [[String: Any]])
            #expect(lines.compactMap { $0["line"] as? Int } == [2, 4, 5])
            #expect(lines.compactMap { $0["code"] as? String } == ["missing_text", "invalid_json", "invalid_tenant_id"])
            let message = (response.json["error"] as? [String: Any])?["message"] as? String ?? ""
            #expect(message.contains("3 of 4 lines") && !message.contains("fine"))
        }
        #expect(publisher.records.isEmpty)
    }

    @Test("batch limits: empty 400, too many logs 413, a line over the size limit 413")
    func batchLimits() async throws {
        try await withAPI { client in
            #expect(try await client.ndjson(["", "  "]).code == "empty_batch")
            let many = (0..<51).map { #"{"tenant_id":"alpha","text":"n\#($0)"}"# }
            let tooMany = try await client.ndjson(many)
            #expect(tooMany.status == 413 && tooMany.code == "too_many_logs")
            let long = try await client.ndjson([#"{"tenant_id":"alpha","text":"\#(String(repeating: "x", count: 1100))"}"#])
            #expect(long.status == 413 && long.code == "line_too_large")
        }
    }

    @Test("X-Tenant-ID applies to lines without tenant_id; a line naming another tenant is a mismatch")
    func batchHeaderTenant() async throws {
        try await withAPI { client in
            let ok = try await client.ndjson([#"{"text":"a"}"#, #"{"text":"b","tenant_id":"alpha"}"#], headers: [APIResponses.tenantHeader: "alpha"])
            #expect(ok.status == 202 && ok.json["tenant_ids"] as? [String] == ["alpha"])
            let mismatch = try await client.ndjson([#"{"text":"a"}"#, #"{"text":"b","tenant_id":"beta"}"#], headers: [APIResponses.tenantHeader: "alpha"])
            #expect(mismatch.code == "invalid_batch")
        }
    }

    // MARK: - gzip

    @Test("gzip bodies of every content type are accepted")
    func gzipAccepted() async throws {
        let publisher = RecordingPublisher()
        try await withAPI(publisher: publisher) { client in
            let json = try await client.send(
                headers: [.contentType: "application/json", .contentEncoding: "gzip"],
                body: gzip(Array(#"{"tenant_id":"alpha","text":"zipped json"}"#.utf8)))
            #expect(json.status == 202)
            let text = try await client.send(
                headers: [.contentType: "text/plain", .contentEncoding: "GZIP", APIResponses.tenantHeader: "alpha"],
                body: gzip(Array("zipped text".utf8)))
            #expect(text.status == 202)
            let batch = try await client.ndjson([#"{"tenant_id":"alpha","text":"zipped line"}"#], gzipped: true)
            #expect(batch.status == 202)
        }
        #expect(publisher.records.map(\.text) == ["zipped json", "zipped text", "zipped line"])
    }

    @Test("corrupt or truncated gzip is a 400, an unknown encoding a 415")
    func gzipErrors() async throws {
        let publisher = RecordingPublisher()
        try await withAPI(publisher: publisher) { client in
            let compressed = gzip(Array(#"{"tenant_id":"alpha","text":"hello"}"#.utf8))
            var corrupt = compressed
            corrupt[12] ^= 0xFF
            corrupt[13] ^= 0xFF
            let headers: HTTPFields = [.contentType: "application/json", .contentEncoding: "gzip"]
            #expect(try await client.send(headers: headers, body: corrupt).code == "invalid_gzip")
            #expect(try await client.send(headers: headers, body: Array(compressed.dropLast(10))).code == "invalid_gzip")
            #expect(try await client.send(headers: headers, body: Array("plain".utf8)).code == "invalid_gzip")
            #expect(try await client.send(headers: headers, body: compressed + Array("trailing".utf8)).code == "invalid_gzip")
            let brotli = try await client.send(headers: [.contentType: "application/json", .contentEncoding: "br"], body: compressed)
            #expect(brotli.status == 415 && brotli.code == "unsupported_encoding")
        }
        #expect(publisher.records.isEmpty)
    }

    @Test("a gzip bomb stops at the decompressed limit with 413, having inflated no more than the limit")
    func gzipBomb() async throws {
        let bomb = gzip([UInt8](repeating: UInt8(ascii: " "), count: 50 << 20))
        #expect(bomb.count < 100_000)
        let inflater = try GzipInflater(limit: 64 * 1024)
        #expect(throws: GzipInflater.Failure.tooLarge) { try bomb.withUnsafeBytes { try inflater.feed($0) } }
        #expect(inflater.output.count <= 64 * 1024)
        try await withAPI { client in
            let response = try await client.send(headers: [.contentType: "application/x-ndjson", .contentEncoding: "gzip"], body: bomb)
            #expect(response.status == 413 && response.code == "request_too_large")
        }
    }

    @Test("concatenated gzip members are one body")
    func gzipMembers() throws {
        let inflater = try GzipInflater(limit: 1024)
        let stream = gzip(Array("first ".utf8)) + gzip(Array("second".utf8))
        try stream.withUnsafeBytes { try inflater.feed($0) }
        #expect(String(decoding: try inflater.finish(), as: UTF8.self) == "first second")
    }

    // MARK: - API keys

    func keysSetup() throws -> (Setup, path: String, keys: [String: String]) {
        let path = "/tmp/logpipe-keys-tests/\(UUID().uuidString).keys"
        try FileManager.default.createDirectory(atPath: "/tmp/logpipe-keys-tests", withIntermediateDirectories: true)
        var keys: [String: String] = [:]
        var lines: [String] = ["# logpipe API keys", ""]
        for (name, tenants) in [("acme", ["acme"]), ("pair", ["acme", "beta"]), ("admin", nil)] as [(String, [String]?)] {
            let (key, line) = APIKeyTable.newKey(tenants: tenants?.map { TenantID($0)! }, note: name)
            keys[name] = key
            lines.append(line)
        }
        try lines.joined(separator: "\n").write(toFile: path, atomically: true, encoding: .utf8)
        var setup = Setup()
        setup.keys = try APIKeyStore(path: path)
        return (setup, path, keys)
    }

    @Test("with keys configured: no key 401, unknown key 401, a tenant the key may not write 403")
    func keysRefuse() async throws {
        let (setup, _, keys) = try keysSetup()
        let publisher = RecordingPublisher()
        try await withAPI(setup, publisher: publisher) { client in
            let missing = try await client.json(#"{"tenant_id":"acme","text":"x"}"#)
            #expect(missing.status == 401 && missing.code == "missing_api_key")
            #expect(missing.headers[.wwwAuthenticate] != nil)
            let unknown = try await client.json(#"{"tenant_id":"acme","text":"x"}"#, headers: [.authorization: "Bearer lpk_nope"])
            #expect(unknown.status == 401 && unknown.code == "invalid_api_key")
            #expect(!String(decoding: unknown.body, as: UTF8.self).contains("lpk_nope"))
            let basic = try await client.json(#"{"tenant_id":"acme","text":"x"}"#, headers: [.authorization: "Basic \(keys["acme"]!)"])
            #expect(basic.status == 401)
            let other = try await client.json(#"{"tenant_id":"beta","text":"x"}"#, headers: [.authorization: "Bearer \(keys["acme"]!)"])
            #expect(other.status == 403 && other.code == "tenant_not_allowed")
            let batch = try await client.ndjson(
                [#"{"tenant_id":"acme","text":"x"}"#, #"{"tenant_id":"gamma","text":"y"}"#],
                headers: [.authorization: "Bearer \(keys["pair"]!)"])
            #expect(batch.status == 403)
        }
        #expect(publisher.records.isEmpty)
    }

    @Test("a key for one tenant fixes the tenant; a multi-tenant key must name it; a * key writes any tenant")
    func keysAllow() async throws {
        let (setup, _, keys) = try keysSetup()
        let publisher = RecordingPublisher()
        try await withAPI(setup, publisher: publisher) { client in
            let implied = try await client.send(
                headers: [.contentType: "text/plain", .authorization: "Bearer \(keys["acme"]!)"],
                body: Array("no tenant given".utf8))
            #expect(implied.status == 202 && implied.json["tenant_id"] as? String == "acme")
            let pairNoTenant = try await client.json(#"{"text":"x"}"#, headers: [.authorization: "Bearer \(keys["pair"]!)"])
            #expect(pairNoTenant.code == "missing_tenant_id")
            let pair = try await client.ndjson(
                [#"{"tenant_id":"acme","text":"x"}"#, #"{"tenant_id":"beta","text":"y"}"#],
                headers: [.authorization: "bearer \(keys["pair"]!)"])
            #expect(pair.status == 202)
            let admin = try await client.json(#"{"tenant_id":"zeta","text":"x"}"#, headers: [.authorization: "Bearer \(keys["admin"]!)"])
            #expect(admin.status == 202)
        }
        #expect(publisher.records.map(\.tenantID.rawValue) == ["acme", "acme", "beta", "zeta"])
    }

    @Test("the shipper endpoints take the same keys: none 401, another tenant's 403, the tenant's own accepted (answers as the spec says)")
    func keysOnShipperEndpoints() async throws {
        let (setup, _, keys) = try keysSetup()
        let publisher = RecordingPublisher()
        try await withAPI(setup, publisher: publisher) { client in
            let otlp = Array(
                #"{"resourceLogs":[{"resource":{"attributes":[{"key":"tenant.id","value":{"stringValue":"beta"}}]},"scopeLogs":[{"logRecords":[{"body":{"stringValue":"x"}}]}]}]}"#
                    .utf8)
            let loki = Array(#"{"streams":[{"stream":{"a":"b"},"values":[["1","line"]]}]}"#.utf8)
            let json: HTTPFields = [.contentType: "application/json"]
            #expect(try await client.send(.post, "/v1/logs", headers: json, body: otlp).status == 401)
            #expect(try await client.send(.post, "/loki/api/v1/push", headers: json, body: loki).status == 401)
            var acme = json
            acme[.authorization] = "Bearer \(keys["acme"]!)"
            let refused = try await client.send(.post, "/v1/logs", headers: acme, body: otlp)
            var acmeBeta = acme
            acmeBeta[HTTPField.Name("X-Tenant-ID")!] = "beta"
            let denied = try await client.send(.post, "/v1/logs", headers: acmeBeta, body: otlp)
            #expect(denied.status == 403 && denied.code == "tenant_not_allowed", "a header naming a tenant the key may not write")
            #expect(refused.status == 200, "a single-tenant key decides the tenant over the resource attribute")
            var pair = json
            pair[.authorization] = "Bearer \(keys["pair"]!)"
            #expect(try await client.send(.post, "/v1/logs", headers: pair, body: otlp).status == 200)
            var lokiAcme = acme
            lokiAcme[HTTPField.Name("X-Scope-OrgID")!] = "beta"
            #expect(try await client.send(.post, "/loki/api/v1/push", headers: lokiAcme, body: loki).status == 403)
            acme[HTTPField.Name("X-Scope-OrgID")!] = "acme"
            #expect(try await client.send(.post, "/loki/api/v1/push", headers: acme, body: loki).status == 204)
        }
        #expect(publisher.records.map(\.tenantID.rawValue) == ["acme", "beta", "acme"])
    }

    @Test("a reload picks up added and removed keys; a broken file keeps the keys in force")
    func keysReload() async throws {
        let (setup, path, keys) = try keysSetup()
        let store = try #require(setup.keys)
        let (newKey, line) = APIKeyTable.newKey(tenants: [TenantID("newco")!], note: "new")
        #expect(store.current.lookup(newKey) == nil)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        let withoutAcme = text.split(separator: "\n").filter { !$0.hasSuffix("# acme") }.joined(separator: "\n")
        try (withoutAcme + "\n" + line + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try store.reload() == 3)
        #expect(store.current.lookup(newKey)?.onlyTenant == TenantID("newco"))
        #expect(store.current.lookup(keys["acme"]!) == nil)
        try "sha256:nothex acme".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: ConfigurationError.self) { try store.reload() }
        #expect(store.current.lookup(newKey) != nil)
    }

    @Test(
        "keys files: errors name the line, never its content",
        arguments: [
            ("sha256:abc acme", "line 1"), ("\n\nmd5:00 acme", "line 3"),
            ("sha256:\(String(repeating: "a", count: 64)) Not_A_Tenant", "line 1"), ("sha256:\(String(repeating: "a", count: 64))", "line 1"),
        ])
    func keysFileErrors(_ text: String, _ expected: String) {
        #expect {
            _ = try APIKeyTable.parse(text)
        } throws: { error in
            let message = "\(error)"
            return message.contains(expected) && !message.contains("Not_A_Tenant") && !message.contains("aaaa")
        }
    }

    // MARK: - Rate limits

    @Test("a tenant over its rate gets 429 with Retry-After; other tenants are not affected")
    func rateLimits() async throws {
        var setup = Setup()
        var limits = RateLimits()
        limits.defaults = .init(rate: 0.01, burst: 3)
        limits.overrides = ["big": .init(rate: 1000, burst: 1000)]
        setup.rateLimits = limits
        try await withAPI(setup) { client in
            for index in 0..<3 { #expect(try await client.json(#"{"tenant_id":"acme","text":"\#(index)"}"#).status == 202) }
            let limited = try await client.json(#"{"tenant_id":"acme","text":"over"}"#)
            #expect(limited.status == 429 && limited.code == "rate_limited")
            #expect(Int(limited.headers[.retryAfter] ?? "") ?? 0 >= 1)
            #expect(try await client.json(#"{"tenant_id":"beta","text":"fine"}"#).status == 202)
            let burst = (0..<20).map { #"{"tenant_id":"big","text":"\#($0)"}"# }
            #expect(try await client.ndjson(burst).status == 202)
            // A batch with a limited tenant is refused whole, and the other tenant's budget is not charged.
            let mixed = try await client.ndjson([#"{"tenant_id":"acme","text":"a"}"#, #"{"tenant_id":"gamma","text":"g"}"#])
            #expect(mixed.status == 429)
            for index in 0..<3 { #expect(try await client.json(#"{"tenant_id":"gamma","text":"\#(index)"}"#).status == 202) }
        }
    }

    @Test("bytes/s limits count the text bytes")
    func byteLimits() async throws {
        var setup = Setup()
        var limits = RateLimits()
        limits.defaults = .init(bytesRate: 0.01, bytesBurst: 100)
        setup.rateLimits = limits
        try await withAPI(setup) { client in
            let full = try await client.json(#"{"tenant_id":"acme","text":"\#(String(repeating: "x", count: 100))"}"#)
            #expect(full.status == 202)
            let over = try await client.json(#"{"tenant_id":"acme","text":"more"}"#)
            #expect(over.status == 429)
        }
    }

    @Test("tenant limit overrides parse from the tenants file; bad files are clear errors naming the tenant")
    func overridesFile() throws {
        let parsed = try TenantSettings.parse(Data(#"{"acme": {"rate": 5, "bytes_burst": 100}, "audit": {"retention": "7d"}}"#.utf8))
        #expect(parsed.rateLimits == ["acme": .init(rate: 5, bytesBurst: 100)])
        for bad in [#"{"acme": {"rate": -1}}"#, #"{"acme": {"burst": "lots"}}"#, #"{"Bad Tenant": {"rate": 1}}"#, "[]"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TenantSettings.parse(Data(bad.utf8)) }
        }
        let message = "tenant acme: rate, burst, bytes_rate and bytes_burst must be positive numbers"
        #expect(throws: ConfigurationError(variable: "LOGPIPE_TENANTS_FILE", message: message)) {
            try TenantSettings.parse(Data(#"{"acme": {"rate": 0}}"#.utf8))
        }
    }

    // MARK: - OpenAPI

    @Test("every route the router knows is in openapi.yaml, and the spec lists no route the router lacks")
    func routesInSpec() throws {
        let api = IngestAPI(publisher: RecordingPublisher(), configuration: LogPipeConfiguration())
        let routes = Set(api.router().routes.map { "\($0.method.rawValue) \($0.path)" })
        #expect(routes == (try Self.spec.get()).operations)
    }

    @Test("GET /openapi.yaml serves the repository's file")
    func servesSpec() async throws {
        try await withAPI { client in
            let response = try await client.send(.get, "/openapi.yaml")
            #expect(response.status == 200)
            #expect(String(decoding: response.body, as: UTF8.self) == (try Self.spec.get()).text)
        }
    }

    @Test("every kind of answer conforms to the spec: health, readiness both ways, 404, 405 with Allow, 415, 503")
    func otherAnswers() async throws {
        try await withAPI { client in
            #expect(try await client.send(.get, "/health").status == 200)
            #expect(try await client.send(.get, "/readiness").status == 200)
            let wrongMethod = try await client.send(.get, "/ingest")
            #expect(wrongMethod.status == 405)
            #expect(wrongMethod.headers[.allow] == "POST")
            let unknown = try await client.client.execute(uri: "/nowhere", method: .get) { $0 }
            #expect(unknown.status == .notFound)
            #expect(try await client.send(headers: [.contentType: "application/xml"], body: Array("<x/>".utf8)).status == 415)
        }
        let failing = RecordingPublisher(failure: .unavailable, unready: ("broker", "down"))
        try await withAPI(publisher: failing) { client in
            let refused = try await client.json(#"{"tenant_id":"acme","text":"x"}"#)
            #expect(refused.status == 503 && refused.headers[.retryAfter] == "1")
            #expect(try await client.ndjson([#"{"tenant_id":"acme","text":"x"}"#]).status == 503)
            #expect(try await client.send(.get, "/readiness").status == 503)
        }
    }
}
