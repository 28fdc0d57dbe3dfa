import Foundation
import LogPipeCore
import MongoBridge
import TestSupport
import Testing

@testable import LogPipeApp

/// What operators type, run against what logpipe's store wrote, on SecantusDB (an independent
/// MongoDB-wire-protocol server, not MongoDB): every `mongosh` example of docs/operations.md through Debian's
/// pymongo (scripts/mongo_docs_check.py), and retention's TTL index deleting what it should and nothing else.
@Suite("Operators' MongoDB commands on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)", .timeLimit(.minutes(3)))
struct MongoOperatorDocsTests {
    static func stamp(secondsAgo seconds: UInt64) -> String {
        UnixTime(milliseconds: UnixTime.now.milliseconds - seconds * 1000).rfc3339
    }

    /// A log as the worker stores it (redacted by the real engine).
    static func log(
        _ id: String, tenant: String = "acme_corp", text: String, receivedAt: String, level: String? = "info", requestID: String = "r",
        attributes: [String: AttributeValue]? = nil
    ) -> StoredLog {
        let tenantID = TenantID(tenant)!
        return StoredLog(
            record: LogRecord(
                tenantID: tenantID, logID: id, text: text, receivedAt: receivedAt, requestID: requestID, fields: LogFields(level: level, attributes: attributes)
            ),
            redactor: RedactionPolicy().redactor(for: tenantID), processedAtStamp: UnixTime.now.rfc3339)
    }

    /// Runs scripts/mongo_docs_check.py; its results by example id.
    static func runDocsExamples(uri: String, database: String) async throws -> [String: Any] {
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/mongo_docs_check.py").path
        let (status, output) = await Shell.run("/usr/bin/python3 '\(script)' --uri '\(uri)' --db '\(database)'")
        #expect(status == 0, "mongo_docs_check.py: \(output.suffix(2000))")
        var results: [String: Any] = [:]
        for line in output.split(separator: "\n") where line.hasPrefix("{") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            results[object["id"] as? String ?? "?"] = object["result"] ?? NSNull()
        }
        return results
    }

    @Test(
        "every mongosh example of docs/operations.md, run through Debian's pymongo on documents logpipe's store wrote, answers what the docs say"
    )
    func docsExamples() async throws {
        let uri = try TestEnvironment.mongoURI
        let database = "ops\(UInt32.random(in: 0...UInt32.max))"
        let store = try MongoLogStore(uri: uri, database: database)
        let documented = "01a22516-4f24-74cd-9766-b80fb1660572"
        _ = try await store.write([
            Self.log(documented, text: "user bob@example.com logged in", receivedAt: Self.stamp(secondsAgo: 3600), requestID: "trace-me-1"),
            Self.log(
                "e-new", text: "disk full", receivedAt: Self.stamp(secondsAgo: 60), level: "error",
                attributes: ["status": .int(503), "http.status": .int(500)]),
            Self.log("e-old", text: "call 555-0100 failed", receivedAt: "2026-11-28T12:00:00.000Z", level: "error"),
            Self.log("i-mid", text: "ok", receivedAt: "2026-11-30T00:00:00.000Z", attributes: ["status": .int(200), "http.status": .int(200)]),
        ])
        // A tenant with a document from before times were dates (its received_at a string).
        _ = try await store.write([Self.log("legacy-1", tenant: "acme", text: "old", receivedAt: "2026-11-01T00:00:00.000Z")])
        _ = try store.pool.command(
            database: database,
            [
                BSONField("update", .string("acme")),
                BSONField(
                    "updates",
                    .array([
                        .document([
                            BSONField("q", .document([BSONField("_id", .string("legacy-1"))])),
                            BSONField("u", .document([BSONField("$set", .document([BSONField("received_at", .string("2026-11-01T00:00:00.000Z"))]))])),
                        ])
                    ])),
            ])

        let results = try await Self.runDocsExamples(uri: uri, database: database)
        #expect(results["use"] as? [String: String] == ["database": database])
        #expect(results["collections"] as? [String] == ["acme", "acme_corp"])
        #expect(results["count"] as? Int == 4)
        let one = results["find_one"] as? [String: Any]
        #expect(one?["_id"] as? String == documented && one?["text"] as? String == "user [REDACTED:EMAIL] logged in")
        #expect(one?["log_id"] as? String == documented && one?["request_id"] as? String == "trace-me-1")
        #expect(results["newest"] as? [String] == ["e-new", documented, "i-mid", "e-old"])
        #expect(results["email_count"] as? Int == 1)
        #expect(results["redactions_per_type"] as? [String: Int] == ["EMAIL": 1, "PHONE": 1])
        #expect(results["by_request"] as? [String] == [documented])
        #expect(results["errors_since"] as? [String] == ["e-new"], "times are dates: the ISODate comparison works")
        #expect(results["last_15_minutes"] as? [String] == ["e-new"])
        #expect(results["status_500"] as? [String] == ["e-new"], "attribute numbers are numbers")
        #expect(results["dotted_key"] as? [String] == ["e-new"])
        let indexes = results["indexes"] as? [[String: Any]] ?? []
        #expect(indexes.compactMap { $0["name"] as? String } == ["_id_", "received_at_1"])
        #expect(indexes.allSatisfy { $0["expireAfterSeconds"] == nil }, "no retention configured: no TTL")
        let collMod = results["coll_mod"] as? [String: Any]
        #expect((collMod?["ok"] as? Double) == 1)
        let ttl = (collMod?["indexes"] as? [[String: Any]])?.first { $0["name"] as? String == "received_at_1" }?["expireAfterSeconds"]
        #expect(ttl as? Int == 604_800)
        #expect((results["sizes"] as? [[Any]])?.map { "\($0[0])=\($0[1])" } == ["acme=1", "acme_corp=4"])
        #expect(results["string_dates"] as? [String: Int] == ["modified": 1, "strings_left": 0, "dates": 1])
        #expect(results.count == 16, "every example ran: \(results.keys.sorted())")
        // What logpipe reads back agrees with what the operator saw.
        #expect(try await store.get(tenant: TenantID("acme")!, logID: "legacy-1")?.receivedAt == "2026-11-01T00:00:00.000Z")
    }

    @Test(
        "retention's TTL index (SecantusDB's TTL sweeper, once a minute) deletes the logs received before each tenant's cut-off and nothing else: newer logs, a tenant kept forever, a string date; converted by the docs' command, that one goes too"
    )
    func ttlRetention() async throws {
        // A server of its own: its sweeper's first pass comes a minute after it starts.
        let server = PrivateSecantus(name: "ttl-test", port: 27873)
        try? await server.wipe()
        try await server.start()
        let uri = try await server.url() + "&serverSelectionTimeoutMS=3000"
        // One hour for every tenant, seven days for beta, forever for audit.
        let retention = RetentionPolicy(
            period: .seconds(3600), overrides: [TenantID("beta")!: .seconds(7 * 86_400), TenantID("audit")!: nil as Duration?])
        let store = try MongoLogStore(uri: uri, database: "logpipe", retention: retention)
        let hour: UInt64 = 3600
        let day: UInt64 = 86_400
        let twoHoursAgo = Self.stamp(secondsAgo: 2 * hour)
        _ = try await store.write(
            (0..<5).map { Self.log("old-\($0)", tenant: "acme", text: "old", receivedAt: twoHoursAgo) }
                + (0..<3).map { Self.log("new-\($0)", tenant: "acme", text: "new", receivedAt: Self.stamp(secondsAgo: 600)) }
                + [
                    Self.log("b-old", tenant: "beta", text: "x", receivedAt: Self.stamp(secondsAgo: 8 * day)),
                    Self.log("b-new", tenant: "beta", text: "x", receivedAt: Self.stamp(secondsAgo: 2 * day)),
                    Self.log("a-old", tenant: "audit", text: "x", receivedAt: Self.stamp(secondsAgo: 400 * day)),
                    Self.log("legacy", tenant: "acme", text: "x", receivedAt: twoHoursAgo),
                    Self.log("converted", tenant: "acme", text: "x", receivedAt: twoHoursAgo),
                ])
        let pool = store.pool
        func update(_ filter: [BSONField], _ change: BSONValue) throws {
            _ = try pool.command(
                database: "logpipe",
                [
                    BSONField("update", .string("acme")),
                    BSONField("updates", .array([.document([BSONField("q", .document(filter)), BSONField("u", change), BSONField("multi", .bool(true))])])),
                ])
        }
        // Two logs as logpipe wrote them before times were dates: strings, which a TTL index never expires...
        try update(
            [BSONField("_id", .document([BSONField("$in", .array([.string("legacy"), .string("converted")]))]))],
            .document([BSONField("$set", .document([BSONField("received_at", .string(twoHoursAgo))]))]))
        // ...and one of them converted by the command of docs/operations.md (only that one: it names the collection).
        try update(
            [BSONField("_id", .string("converted")), BSONField("received_at", .document([BSONField("$type", .string("string"))]))],
            .array([.document([BSONField("$set", .document([BSONField("received_at", .document([BSONField("$toDate", .string("$received_at"))]))]))])]))
        #expect(
            try pool.listIndexes(database: "logpipe", collection: "acme").first { $0["name"] == .string("received_at_1") }?["expireAfterSeconds"]?
                .integer == 3600)
        #expect(try pool.listIndexes(database: "logpipe", collection: "audit").allSatisfy { $0["expireAfterSeconds"] == nil })
        func ids(_ tenant: String) async throws -> Set<String> {
            Set(try await store.find(tenant: TenantID(tenant)!, LogQuery(limit: 100)).map(\.logID))
        }
        // One pass of the sweeper scans each collection under one lock: once acme's and beta's old logs are gone,
        // what is left there was scanned and kept.
        let swept = try await eventually(timeout: .seconds(120), every: .milliseconds(500)) {
            let acme = try await ids("acme")
            let beta = try await ids("beta")
            return !acme.contains("old-0") && !beta.contains("b-old") && !acme.contains("converted")
        }
        #expect(swept, "no TTL pass within two minutes")
        #expect(try await ids("acme") == ["new-0", "new-1", "new-2", "legacy"], "newer logs and a string date stay")
        #expect(try await ids("beta") == ["b-new"], "beta's seven days")
        #expect(try await ids("audit") == ["a-old"], "a tenant kept forever keeps its oldest logs")
        try await server.wipe()
    }
}
