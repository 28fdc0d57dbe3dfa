import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import Synchronization
import TestSupport
import Testing

@testable import LogPipeApp

/// A reader over logs in memory, with a store's contract: one tenant, `[start, end)`, either order, pages, line
/// filters applied (equalities may be ignored).
struct MemoryReader: LogReader {
    let logs: [StoredLog]

    func scan(tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(StoreError) {
        var selected = logs.filter { log in
            let time = Int64(UnixTime(stamp: log.receivedAt)!.milliseconds)
            return log.tenantID == tenant && time >= scan.startMilliseconds && time < scan.endMilliseconds
                && scan.lineFilters.allSatisfy { $0.matches(log.text) }
        }
        selected.sort { scan.newestFirst ? $0.receivedAt > $1.receivedAt : $0.receivedAt < $1.receivedAt }
        var index = 0
        while index < selected.count {
            guard visit(Array(selected[index..<min(index + scan.pageSize, selected.count)])) else { return }
            index += scan.pageSize
        }
    }
}

/// A ``MemoryReader`` whose logs grow (what a worker storing does, for the tail).
final class GrowingReader: LogReader {
    private let logs: Mutex<[StoredLog]>

    init(logs: [StoredLog]) { self.logs = Mutex(logs) }

    func append(_ more: [StoredLog]) { logs.withLock { $0.append(contentsOf: more) } }

    func scan(tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(StoreError) {
        try await MemoryReader(logs: logs.withLock { $0 }).scan(tenant: tenant, scan, visit: visit)
    }
}

/// The Loki read API over HTTP: Grafana's and logcli's requests as they send them, tenancy and key scopes, refusals.
@Suite("Loki read API over HTTP (logs in memory)")
struct LokiReadRouteTests {
    static let spec = Result { try OpenAPIDocument.load() }
    static let acme = TenantID("acme")!
    /// 2026-12-01T10:00:00Z in nanoseconds.
    static let base: Int64 = 1_796_119_200_000_000_000

    static func log(_ id: String, _ tenant: TenantID = acme, second: Int, text: String, level: String = "info", source: String = "api") -> StoredLog {
        let stamp = UnixTime(milliseconds: UInt64(base / 1_000_000) + UInt64(second) * 1000).rfc3339
        return StoredLog(
            logID: id, tenantID: tenant, text: text, redactions: [:], receivedAt: stamp, processedAt: stamp, requestID: "r",
            fields: LogFields(level: level, source: source, attributes: ["status": .int(second % 2 == 0 ? 200 : 503)]))
    }

    static let logs = [
        log("a", second: 1, text: "GET /orders 503 took 30ms", level: "error"),
        log("b", second: 2, text: "GET /orders 200"),
        log("c", second: 3, text: "payment failed for [REDACTED:EMAIL]", level: "error", source: "billing"),
        log("d", second: 4, text: "GET /health 200", level: "debug"),
        log("x", TenantID("other")!, second: 2, text: "other tenant's error", level: "error"),
    ]

    /// The keys of these tests: a read key and an ingest key for acme, a read and ingest key for acme and other.
    static let readKey = APIKeyTable.newKey(tenants: [acme], scopes: [.read], note: "grafana")
    static let ingestKey = APIKeyTable.newKey(tenants: [acme], note: "shipper")
    static let bothTenantsKey = APIKeyTable.newKey(tenants: [acme, TenantID("other")!], scopes: [.ingest, .read], note: "ops")

    static func keys() throws -> APIKeyStore {
        let path = "/tmp/logpipe-read-keys-\(UUID().uuidString)"
        try ([readKey.line, ingestKey.line, bothTenantsKey.line].joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        return try APIKeyStore(path: path)
    }

    func withAPI(
        keys: APIKeyStore? = nil, reader: (any LogReader)? = MemoryReader(logs: logs), _ body: @Sendable (any TestClientProtocol) async throws -> Void
    ) async throws {
        let api = IngestAPI(publisher: RecordingPublisher(), configuration: LogPipeConfiguration(), keys: keys, reader: reader)
        try await Application(router: api.router()).test(.router, body)
    }

    /// Sends a GET and checks the answer against openapi.yaml (`specPath`: the documented path).
    static func get(
        _ client: any TestClientProtocol, _ uri: String, specPath: String? = nil, headers: HTTPFields = [:],
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> (status: Int, json: Any?, headers: HTTPFields) {
        let (status, body, responseHeaders) = try await client.execute(uri: uri, method: .get, headers: headers) {
            (Int($0.status.code), Data($0.body.readableBytesView), $0.headers)
        }
        let path = specPath ?? String(uri.split(separator: "?", maxSplits: 1)[0])
        let problems = try spec.get().problems(method: "GET", path: path, status: status, headers: responseHeaders, body: body)
        #expect(problems.isEmpty, "\(problems)", sourceLocation: sourceLocation)
        return (status, try? JSONSerialization.jsonObject(with: body), responseHeaders)
    }

    /// A query string as Go's `url.Values.Encode` writes it (Grafana, logcli): keys sorted, `QueryEscape`d.
    static func goQuery(_ pairs: [(String, String)]) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~ ")
        func escape(_ text: String) -> String {
            text.addingPercentEncoding(withAllowedCharacters: unreserved)!.replacingOccurrences(of: " ", with: "+")
        }
        return pairs.sorted { $0.0 < $1.0 }.map { "\(escape($0.0))=\(escape($0.1))" }.joined(separator: "&")
    }

    static func bearer(_ key: (key: String, line: String)) -> HTTPFields { [.authorization: "Bearer \(key.key)"] }

    @Test("a log query_range as Grafana sends it returns the key's tenant's logs as streams, newest first, limited")
    func grafanaLogQuery() async throws {
        let keys = try Self.keys()
        try await withAPI(keys: keys) { client in
            let query = Self.goQuery([
                ("direction", "backward"), ("end", String(Self.base + 10_000_000_000)), ("limit", "1000"),
                ("query", #"{level="error"} |= "503""#),
                ("start", String(Self.base)), ("step", "2000ms"),
            ])
            let (status, json, _) = try await Self.get(client, "/loki/api/v1/query_range?" + query, headers: Self.bearer(Self.readKey))
            #expect(status == 200)
            let data = try #require((json as? [String: Any])?["data"] as? [String: Any])
            #expect(data["resultType"] as? String == "streams")
            let result = try #require(data["result"] as? [[String: Any]])
            #expect(result.count == 1)
            #expect(result[0]["stream"] as? [String: String] == ["level": "error", "source": "api", "status": "503"])
            #expect(result[0]["values"] as? [[String]] == [[String(Self.base + 1_000_000_000), "GET /orders 503 took 30ms"]])
            let all = try await Self.get(
                client,
                "/loki/api/v1/query_range?"
                    + Self.goQuery([("query", "{}"), ("start", String(Self.base)), ("limit", "3"), ("end", String(Self.base + 9_000_000_000))]),
                headers: Self.bearer(Self.readKey))
            let streams = try #require(((all.json as? [String: Any])?["data"] as? [String: Any])?["result"] as? [[String: Any]])
            let lines = streams.flatMap { ($0["values"] as? [[String]] ?? []).map { $0[1] } }
            #expect(lines.count == 3 && !lines.contains("other tenant's error"))
            #expect(lines.contains("GET /health 200") && !lines.contains("GET /orders 503 took 30ms"), "the newest 3")
        }
    }

    @Test("start and end as nanoseconds, decimal seconds or RFC 3339 select the same logs; direction=forward gives the oldest first")
    func timeFormatsAndDirection() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            func lines(_ pairs: [(String, String)]) async throws -> [String] {
                let answer = try await Self.get(client, "/loki/api/v1/query_range?" + Self.goQuery(pairs), headers: Self.bearer(Self.readKey))
                #expect(answer.status == 200, "\(pairs)")
                let streams = try #require(((answer.json as? [String: Any])?["data"] as? [String: Any])?["result"] as? [[String: Any]])
                return streams.flatMap { ($0["values"] as? [[String]] ?? []) }.sorted { $0[0] < $1[0] }.map { $0[1] }
            }
            // 1.5 s to 3.5 s past the base (2026-12-01T10:00:00Z): the logs of seconds 2 and 3.
            let expected = ["GET /orders 200", "payment failed for [REDACTED:EMAIL]"]
            for (start, end) in [
                (String(Self.base + 1_500_000_000), String(Self.base + 3_500_000_000)),
                ("1796119201.5", "1796119203.5"),
                ("2026-12-01T10:00:01.5Z", "2026-12-01T10:00:03.500000000Z"),
                ("2026-12-01T11:00:01.5+01:00", "2026-12-01T10:00:03.5Z"),
            ] {
                #expect(try await lines([("query", "{}"), ("start", start), ("end", end)]) == expected, "\(start) \(end)")
            }
            let range = [("query", "{}"), ("start", String(Self.base)), ("end", String(Self.base + 9_000_000_000)), ("limit", "2")]
            #expect(try await lines(range + [("direction", "forward")]) == ["GET /orders 503 took 30ms", "GET /orders 200"])
            #expect(try await lines(range + [("direction", "backward")]) == ["payment failed for [REDACTED:EMAIL]", "GET /health 200"])
            for (name, value) in [("start", "yesterday"), ("end", "2026-13-01T00:00:00Z"), ("direction", "sideways")] {
                let refused = try await Self.get(
                    client, "/loki/api/v1/query_range?" + Self.goQuery([("query", "{}"), (name, value)]), headers: Self.bearer(Self.readKey))
                #expect(refused.status == 400 && Self.code(refused.json) == "invalid_query", "\(name)=\(value)")
            }
        }
    }

    @Test("Grafana's log-volume query returns a matrix by level; rate divides by the range")
    func grafanaLogVolume() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            let query = Self.goQuery([
                ("direction", "backward"), ("end", String(Self.base + 10_000_000_000)),
                ("query", "sum by (level, detected_level) (count_over_time({source=~\"api|billing\"} | drop __error__[10s]))"),
                ("start", String(Self.base + 10_000_000_000)), ("step", "10000ms"),
            ])
            var headers = Self.bearer(Self.readKey)
            headers[HTTPField.Name("X-Query-Tags")!] = "Source=logvolhist"
            let (status, json, _) = try await Self.get(client, "/loki/api/v1/query_range?" + query, headers: headers)
            #expect(status == 200)
            let data = try #require((json as? [String: Any])?["data"] as? [String: Any])
            #expect(data["resultType"] as? String == "matrix")
            let result = try #require(data["result"] as? [[String: Any]])
            let byLevel = Dictionary(uniqueKeysWithValues: result.map { (($0["metric"] as? [String: String])?["level"] ?? "", $0["values"] as? [[Any]] ?? []) })
            #expect(byLevel.keys.sorted() == ["debug", "error", "info"])
            #expect(byLevel["error"]?.first?[1] as? String == "2")
            #expect(Self.number(byLevel["error"]?.first?[0]) == Double((Self.base + 10_000_000_000) / 1_000_000_000))
            let rate = try await Self.get(
                client,
                "/loki/api/v1/query?" + Self.goQuery([("query", "sum(rate({level=\"error\"}[10s]))"), ("time", String(Self.base + 10_000_000_000))]),
                headers: Self.bearer(Self.readKey))
            let vector = try #require(((rate.json as? [String: Any])?["data"] as? [String: Any])?["result"] as? [[String: Any]])
            #expect((vector.first?["value"] as? [Any])?[1] as? String == "0.2")
        }
    }

    @Test("Grafana's health check, build info and readiness probe answer as Loki does")
    func grafanaProbes() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            let health = try await Self.get(
                client, "/loki/api/v1/query?" + Self.goQuery([("direction", "backward"), ("query", "vector(1)+vector(1)"), ("time", "4000000000")]),
                headers: Self.bearer(Self.readKey))
            #expect(health.status == 200)
            let data = try #require((health.json as? [String: Any])?["data"] as? [String: Any])
            #expect(data["resultType"] as? String == "vector")
            let value = try #require((data["result"] as? [[String: Any]])?.first?["value"] as? [Any])
            // Loki reads a time of up to 10 digits as seconds: Grafana's `time.Unix(4, 0).UnixNano()` is 4e9 s.
            #expect(Self.number(value[0]) == 4_000_000_000 && value[1] as? String == "2")
            let build = try await Self.get(client, "/loki/api/v1/status/buildinfo")
            #expect((build.json as? [String: Any])?["version"] as? String == "2.9.0-logpipe")
            let ready = try await client.execute(uri: "/ready", method: .get) { $0 }
            #expect(ready.status == .ok && String(buffer: ready.body) == "ready\n")
            // Grafana probes the v2alpha tail first and uses it only on a 400.
            #expect(try await client.execute(uri: "/loki/api/v2alpha/tail", method: .get) { $0.status } == .notFound)
        }
    }

    @Test("labels, label values and series as Grafana's language provider asks for them")
    func grafanaMetadata() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            let range = [("end", String(Self.base + 10_000_000_000)), ("start", String(Self.base))]
            let labels = try await Self.get(client, "/loki/api/v1/labels?" + Self.goQuery(range), headers: Self.bearer(Self.readKey))
            #expect((labels.json as? [String: Any])?["data"] as? [String] == ["level", "source", "status"])
            let values = try await Self.get(
                client, "/loki/api/v1/label/level/values?" + Self.goQuery(range + [("query", #"{source="api"}"#)]),
                specPath: "/loki/api/v1/label/{name}/values", headers: Self.bearer(Self.readKey))
            #expect((values.json as? [String: Any])?["data"] as? [String] == ["debug", "error", "info"])
            let series = try await Self.get(
                client, "/loki/api/v1/series?" + Self.goQuery(range + [("match[]", #"{level="error"}"#)]), headers: Self.bearer(Self.readKey))
            let sets = try #require((series.json as? [String: Any])?["data"] as? [[String: String]])
            #expect(Set(sets.map { $0["source"] ?? "" }) == ["api", "billing"])
        }
    }

    @Test("an ingest key cannot read and a read key cannot write (403 scope_not_allowed); a key reads only its tenants")
    func scopes() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            let uri = "/loki/api/v1/query_range?query=%7B%7D&start=\(Self.base)&end=\(Self.base + 10_000_000_000)"
            let ingest = try await Self.get(client, uri, headers: Self.bearer(Self.ingestKey))
            #expect(ingest.status == 403 && Self.code(ingest.json) == "scope_not_allowed")
            var writeHeaders = Self.bearer(Self.readKey)
            writeHeaders[.contentType] = "text/plain"
            let write = try await client.execute(uri: "/ingest", method: .post, headers: writeHeaders, body: ByteBuffer(string: "x")) {
                ($0.status, Data($0.body.readableBytesView))
            }
            #expect(write.0 == .forbidden && Self.code(try? JSONSerialization.jsonObject(with: write.1)) == "scope_not_allowed")
            var other = Self.bearer(Self.readKey)
            other[ReadAccess.orgHeader] = "other"
            let refused = try await Self.get(client, uri, headers: other)
            #expect(refused.status == 403 && Self.code(refused.json) == "tenant_not_allowed")
            let ambiguous = try await Self.get(client, uri, headers: Self.bearer(Self.bothTenantsKey))
            #expect(ambiguous.status == 400 && Self.code(ambiguous.json) == "missing_tenant_id")
            var chosen = Self.bearer(Self.bothTenantsKey)
            chosen[ReadAccess.orgHeader] = "other"
            let otherLogs = try await Self.get(client, uri, headers: chosen)
            #expect(otherLogs.status == 200 && Self.lines(otherLogs.json) == ["other tenant's error"])
            #expect(try await Self.get(client, uri).status == 401)
        }
    }

    @Test("unsupported LogQL is a 400 naming the part, with Loki's status and message for Grafana to show")
    func refusals() async throws {
        try await withAPI(keys: try Self.keys()) { client in
            for (query, named) in [(#"{app="x"} | json"#, "'| json'"), (#"{a=~"(a)\\1"}"#, "backreferences"), ("topk(3, count_over_time({}[1m]))", "topk")] {
                let (status, json, _) = try await Self.get(
                    client, "/loki/api/v1/query_range?" + Self.goQuery([("query", query)]), headers: Self.bearer(Self.readKey))
                #expect(status == 400 && Self.code(json) == "unsupported_query")
                let body = json as? [String: Any]
                #expect(body?["status"] as? String == "error" && (body?["message"] as? String)?.contains(named) == true, "\(query)")
            }
            let bad = try await Self.get(client, "/loki/api/v1/query_range?query=%7Ba%3D", headers: Self.bearer(Self.readKey))
            #expect(bad.status == 400 && Self.code(bad.json) == "invalid_query")
            let tooMany = try await Self.get(client, "/loki/api/v1/query_range?query=%7B%7D&limit=5001", headers: Self.bearer(Self.readKey))
            #expect(tooMany.status == 400 && Self.code(tooMany.json) == "query_too_large")
            let plainTail = try await Self.get(client, "/loki/api/v1/tail?query=%7B%7D", headers: Self.bearer(Self.readKey))
            #expect(plainTail.status == 400 && (plainTail.json as? [String: Any])?["message"] as? String != nil)
            let times = try await Self.get(client, "/loki/api/v1/query_range?query=%7B%7D&start=99999999999999999999", headers: Self.bearer(Self.readKey))
            #expect(times.status == 400 && Self.code(times.json) == "invalid_query")
        }
    }

    @Test("without keys a request from no known network is refused; without a store the read API answers 503")
    func withoutKeysOrStore() async throws {
        try await withAPI { client in
            var headers: HTTPFields = [:]
            headers[ReadAccess.orgHeader] = "acme"
            let refused = try await Self.get(client, "/loki/api/v1/labels", headers: headers)
            #expect(refused.status == 403 && Self.code(refused.json) == "read_not_allowed")
        }
        try await withAPI(keys: try Self.keys(), reader: nil) { client in
            let answer = try await Self.get(client, "/loki/api/v1/labels", headers: Self.bearer(Self.readKey))
            #expect(answer.status == 503 && Self.code(answer.json) == "store_unavailable" && answer.headers[.retryAfter] == "1")
        }
    }

    @Test("without keys, loopback reads the tenant named in X-Scope-OrgID; other networks only when allowed")
    func readAccess() throws {
        let access = ReadAccess(keys: nil, allowedNetworks: [IPNetwork("10.20.0.0/16")!])
        var headers: HTTPFields = [:]
        headers[ReadAccess.orgHeader] = "acme"
        #expect(try access.tenant(headers: headers, peer: "127.0.0.1") == Self.acme)
        #expect(try access.tenant(headers: headers, peer: "::1") == Self.acme)
        #expect(try access.tenant(headers: headers, peer: "10.20.3.4") == Self.acme)
        #expect(try access.tenant(headers: headers, peer: "::ffff:10.20.3.4") == Self.acme)
        #expect(throws: IngestError.self) { try access.tenant(headers: headers, peer: "10.21.0.1") }
        #expect(throws: IngestError.self) { try access.tenant(headers: headers, peer: nil) }
        #expect(throws: IngestError.self) { try access.tenant(headers: [:], peer: "127.0.0.1") }
        headers[ReadAccess.orgHeader] = "Not A Tenant"
        #expect(throws: IngestError.self) { try access.tenant(headers: headers, peer: "127.0.0.1") }
        #expect(IPNetwork("fd00::/8")!.contains("fd12::1") && !IPNetwork("fd00::/8")!.contains("fe80::1"))
        #expect(IPNetwork("300.1.1.1") == nil && IPNetwork("10.0.0.0/33") == nil)
    }

    @Test("live tail: the backfill oldest first, then each new matching log once, a late-stored one included", .timeLimit(.minutes(1)))
    func tailFollows() async throws {
        let now = UnixTime.now.milliseconds
        // Times are taken when each log is made: on a loaded machine seconds pass between the steps.
        func log(_ id: String, ago milliseconds: UInt64, text: String) -> StoredLog {
            let stamp = UnixTime(milliseconds: UnixTime.now.milliseconds - milliseconds).rfc3339
            return StoredLog(
                logID: id, tenantID: Self.acme, text: text, redactions: [:], receivedAt: stamp, processedAt: stamp, requestID: "r",
                fields: LogFields(level: "error"))
        }
        let store = GrowingReader(logs: [log("old", ago: 120_000, text: "tail me 1"), log("older", ago: 180_000, text: "tail me 0")])
        let sent = Collector<[[String]]>([])
        guard case .logs(let selector) = try LogQLQuery(#"{level="error"} |= "tail me""#) else { return }
        let runner = LokiQueryRunner(reader: store, maxLogs: 1_000)
        let follower = Task {
            try await LokiReadAPI.follow(runner, tenant: Self.acme, selector, start: Int64(now) - 600_000, limit: 10) { logs in
                sent.update { $0.append(logs.map(\.text)) }
            }
        }
        defer { follower.cancel() }
        func waitFor(_ count: Int) async throws {
            _ = try await eventually(timeout: .seconds(30)) { sent.value.count >= count }
        }
        try await waitFor(1)
        #expect(sent.value == [["tail me 0", "tail me 1"]])
        // A new log, one received 5 s ago but stored only now (a worker's batch), and one that does not match.
        store.append([log("new", ago: 0, text: "tail me 2"), log("late", ago: 5_000, text: "tail me late"), log("other", ago: 0, text: "no")])
        try await waitFor(2)
        #expect(sent.value.count == 2 && Set(sent.value[1]) == ["tail me 2", "tail me late"])
        store.append([log("newer", ago: 0, text: "tail me 3")])
        try await waitFor(3)
        #expect(sent.value.last == ["tail me 3"], "nothing is sent twice")
    }

    @Test("keys files: lines without scopes are ingest keys; scopes are ingest, read or both; unknown scopes are refused")
    func keyScopes() throws {
        let hash = String(repeating: "ab", count: 32)
        let table = try APIKeyTable.parse("sha256:\(hash) acme\nsha256:\(hash) acme read # grafana\nsha256:\(hash) * ingest,read\n")
        #expect(table.entries.map(\.scopes) == [[.ingest], [.read], [.ingest, .read]])
        #expect(throws: ConfigurationError.self) { try APIKeyTable.parse("sha256:\(hash) acme write\n") }
        let (_, line) = APIKeyTable.newKey(tenants: [Self.acme], scopes: [.read], note: "n")
        #expect(line.contains(" acme read  # n"))
        #expect(try APIKeyTable.parse(line + "\n").entries.first?.scopes == [.read])
        #expect(!APIKeyTable.newKey(tenants: nil, note: "n").line.contains("ingest"))
    }

    /// A JSON number, whichever type JSONSerialization gave it.
    static func number(_ value: Any?) -> Double? {
        if let integer = value as? Int { return Double(integer) }
        if let double = value as? Double { return double }
        return (value as? NSNumber)?.doubleValue
    }

    /// The lines of a streams answer.
    static func lines(_ json: Any?) -> [String] {
        let result = ((json as? [String: Any])?["data"] as? [String: Any])?["result"] as? [[String: Any]] ?? []
        return result.flatMap { ($0["values"] as? [[String]] ?? []).map { $0[1] } }
    }

    static func code(_ json: Any?) -> String? {
        ((json as? [String: Any])?["error"] as? [String: Any])?["code"] as? String
    }
}
