import Foundation
import GRDB
import LogPipeCore
import MongoBridge
import Testing

@testable import LogPipeApp

/// The behaviour every `LogStore` must have, run against SQLite and against MongoDB's store through the real
/// libmongoc driver on SecantusDB, an independent MongoDB-wire-protocol server (not MongoDB).
@Suite("Store contract: SQLite, and the MongoDB store on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)")
struct StoreContractTests {
    /// A fresh, empty store of each kind.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite
        case mongoOnSecantus
        var testDescription: String {
            self == .sqlite ? "SQLite" : "MongoDB store on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)"
        }

        func make() throws -> any LogStore {
            switch self {
            case .sqlite:
                try SQLiteLogStore(path: "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite")
            case .mongoOnSecantus:
                try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
            }
        }
    }

    static let acme = TenantID("acme")!
    static let beta = TenantID("beta-2")!

    func log(
        _ id: String, _ tenant: TenantID = acme, text: String = "hello", redactions: [String: Int] = [:],
        receivedAt: String = "2026-11-29T10:00:00.000Z", level: String = "info"
    ) -> StoredLog {
        StoredLog(
            logID: id, tenantID: tenant, text: text, redactions: redactions, receivedAt: receivedAt,
            processedAt: "2026-11-29T10:00:01.000Z", requestID: "req-\(id)",
            fields: LogFields(
                timestamp: "2026-11-29T09:59:59.250Z", level: level, source: "web",
                attributes: ["port": .int(443), "ok": .bool(true), "ratio": .double(0.5), "user": .string("u1")]))
    }

    @Test("a written log reads back exactly", arguments: Kind.allCases)
    func roundTrip(_ kind: Kind) async throws {
        let store = try kind.make()
        let original = log("l-1", redactions: ["EMAIL": 1])
        #expect(try await store.write([original]) == StoreWriteResult(stored: 1, duplicates: 0))
        #expect(try await store.get(tenant: Self.acme, logID: "l-1") == original)
        #expect(try await store.count(tenant: Self.acme) == 1)
        var minimal = log("l-2")
        minimal.timestamp = nil; minimal.level = nil; minimal.source = nil; minimal.attributes = nil
        _ = try await store.write([minimal])
        #expect(try await store.get(tenant: Self.acme, logID: "l-2") == minimal)
    }

    @Test("text with NUL and other control characters, quotes and non-ASCII reads back unchanged", arguments: Kind.allCases)
    func controlCharactersRoundTrip(_ kind: Kind) async throws {
        let store = try kind.make()
        let original = log("nul-1", text: "a\u{0000}b\u{0001}\t\"q\"\\ é 日本 \u{0000}")
        #expect(try await store.write([original]) == StoreWriteResult(stored: 1, duplicates: 0))
        #expect(try await store.get(tenant: Self.acme, logID: "nul-1")?.text == original.text)
        #expect(try await store.tail(tenant: Self.acme, limit: 1).first?.text == original.text)
    }

    @Test("attribute keys such as $numberLong, $oid and a.b, and values that look like extended JSON, are plain data", arguments: Kind.allCases)
    func extendedJSONLookalikes(_ kind: Kind) async throws {
        let store = try kind.make()
        var original = log("ej-1")
        original.attributes = [
            "$numberLong": .string("5"), "$oid": .string("x"), "a.b": .int(1), "$date": .int(7),
            "json": .string(#"{"$oid":"x"}"#), "ratio": .double(0.25),
        ]
        let other = log("ej-2")
        #expect(try await store.write([original, other]) == StoreWriteResult(stored: 2, duplicates: 0))
        #expect(try await store.get(tenant: Self.acme, logID: "ej-1") == original)
        #expect(try await store.tail(tenant: Self.acme, limit: 10).count == 2)
    }

    @Test("the same log_id twice is stored once and the first write wins", arguments: Kind.allCases)
    func firstWriteWins(_ kind: Kind) async throws {
        let store = try kind.make()
        _ = try await store.write([log("dup", text: "first")])
        let second = try await store.write([log("dup", text: "second"), log("new")])
        #expect(second == StoreWriteResult(stored: 1, duplicates: 1))
        #expect(try await store.get(tenant: Self.acme, logID: "dup")?.text == "first")
        #expect(try await store.count(tenant: Self.acme) == 2)
        // Within one batch too.
        let same = try await store.write([log("twice", text: "a"), log("twice", text: "b")])
        #expect(same == StoreWriteResult(stored: 1, duplicates: 1))
        #expect(try await store.get(tenant: Self.acme, logID: "twice")?.text == "a")
    }

    @Test("tenants are kept apart, even with the same log_id", arguments: Kind.allCases)
    func tenantsApart(_ kind: Kind) async throws {
        let store = try kind.make()
        let result = try await store.write([log("x", Self.acme, text: "for acme"), log("x", Self.beta, text: "for beta")])
        #expect(result == StoreWriteResult(stored: 2, duplicates: 0))
        #expect(try await store.get(tenant: Self.acme, logID: "x")?.text == "for acme")
        #expect(try await store.get(tenant: Self.beta, logID: "x")?.text == "for beta")
        #expect(try await store.count(tenant: Self.beta) == 1)
    }

    /// Received one second apart from 10:00:01 on: log `n` at 10:00:0n.
    func received(_ n: Int) -> String { "2026-11-29T10:00:\(n < 10 ? "0" : "")\(n).000Z" }

    @Test("tail lists the newest first, limited; unknown tenants are empty", arguments: Kind.allCases)
    func tail(_ kind: Kind) async throws {
        let store = try kind.make()
        _ = try await store.write((1...5).map { log("t\($0)", receivedAt: received($0)) })
        _ = try await store.write([log("t6", receivedAt: received(6))])
        #expect(try await store.tail(tenant: Self.acme, limit: 3).map(\.logID) == ["t6", "t5", "t4"])
        #expect(try await store.tail(tenant: TenantID("nobody")!, limit: 3).isEmpty)
        #expect(try await store.get(tenant: TenantID("nobody")!, logID: "t1") == nil)
        #expect(try await store.count(tenant: TenantID("nobody")!) == 0)
        try await store.ping()
    }

    @Test("MongoDB store on SecantusDB (not MongoDB): writes whose connection the server closes are transient errors, and a retry stores each document once")
    func mongoWriteFailure() async throws {
        try await FailCommand.exclusive { failCommand in
            let store = try MongoLogStore(uri: failCommand.uri(), database: "t\(UInt32.random(in: 0...UInt32.max))")
            _ = try await store.write([log("before")])
            try failCommand.arm(.string("alwaysOn"), [BSONField("closeConnection", .bool(true))])
            await #expect { try await store.write([log("a"), log("b")]) } throws: { ($0 as? StoreError)?.transient == true }
            try failCommand.off()
            let retry = try await store.write([log("a"), log("b"), log("before")])
            #expect(retry == StoreWriteResult(stored: 2, duplicates: 1))
            #expect(try await store.count(tenant: Self.acme) == 3)
        }
    }

    @Test("MongoDB store on SecantusDB (not MongoDB): each tenant is its own collection named by the tenant id, documents keyed by log_id")
    func mongoLayout() async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
        _ = try await store.write([log("x", Self.acme), log("y", Self.beta)])
        let collections = try store.pool.command(database: store.database, #"{"listCollections": 1}"#)
        #expect(collections.contains(#""name" : "acme""#) && collections.contains(#""name" : "beta-2""#))
        let raw = try store.pool.find(database: store.database, collection: "acme", filter: #"{"_id": "x"}"#)
        #expect(raw.count == 1)
        #expect(raw.first?.contains(#""log_id" : "x""#) == true)
        #expect(raw.first?.contains(#""redactions""#) == true)
    }

    @Test("queries: since, level and text filters, both orders, by received_at", arguments: Kind.allCases)
    func queries(_ kind: Kind) async throws {
        let store = try kind.make()
        _ = try await store.write([
            log("q1", text: "disk full on /var", receivedAt: received(1), level: "error"),
            log("q2", text: "login ok", receivedAt: received(2)),
            log("q3", text: "disk ok", receivedAt: received(3)),
            log("q4", text: "regex chars .*+? (disk)", receivedAt: received(4), level: "error"),
        ])
        func ids(_ query: LogQuery) async throws -> [String] { try await store.find(tenant: Self.acme, query).map(\.logID) }
        #expect(try await ids(LogQuery(limit: 10)) == ["q4", "q3", "q2", "q1"])
        #expect(try await ids(LogQuery(limit: 2, oldestFirst: true)) == ["q1", "q2"])
        #expect(try await ids(LogQuery(since: UnixTime(stamp: received(2)), limit: 10)) == ["q4", "q3", "q2"])
        #expect(try await ids(LogQuery(level: "error", limit: 10)) == ["q4", "q1"])
        #expect(try await ids(LogQuery(contains: "disk", limit: 10)) == ["q4", "q3", "q1"])
        #expect(try await ids(LogQuery(contains: ".*+? (", limit: 10)) == ["q4"], "the text is matched literally")
        #expect(try await ids(LogQuery(since: UnixTime(stamp: received(2)), level: "error", contains: "disk", limit: 10)) == ["q4"])
    }

    @Test(
        "MongoDB store on SecantusDB (not MongoDB): times are BSON dates, attribute numbers and booleans BSON numbers and booleans, redactions a sub-document")
    func mongoDocumentTypes() async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
        _ = try await store.write([log("d1", redactions: ["EMAIL": 2])])
        let document = try #require(try store.pool.find(database: store.database, collection: "acme", filter: [BSONField("_id", .string("d1"))]).first)
        #expect(document["received_at"] == .date(Int64(UnixTime(stamp: "2026-11-29T10:00:00.000Z")!.milliseconds)))
        #expect(document["processed_at"] == .date(Int64(UnixTime(stamp: "2026-11-29T10:00:01.000Z")!.milliseconds)))
        #expect(document["timestamp"] == .date(Int64(UnixTime(stamp: "2026-11-29T09:59:59.250Z")!.milliseconds)))
        #expect(document["redactions"] == .document([BSONField("EMAIL", .int64(2))]))
        guard case .document(let attributes)? = document["attributes"] else { Issue.record("no attributes"); return }
        #expect(attributes["port"] == .int64(443))
        #expect(attributes["ok"] == .bool(true))
        #expect(attributes["ratio"] == .double(0.5))
        #expect(attributes["user"] == .string("u1"))
        // A date query as mongosh users write it finds it.
        let since = BSONField("received_at", .document([BSONField("$gte", .date(Int64(UnixTime(stamp: "2026-11-29T09:00:00.000Z")!.milliseconds)))]))
        #expect(try store.pool.find(database: store.database, collection: "acme", filter: [since]).count == 1)
        #expect(try await store.get(tenant: Self.acme, logID: "d1") == log("d1", redactions: ["EMAIL": 2]))
    }

    static func receivedAtIndex(_ store: MongoLogStore, _ collection: String) throws -> [BSONField]? {
        try store.pool.listIndexes(database: store.database, collection: collection).first { $0["name"] == .string("received_at_1") }
    }

    @Test(
        "MongoDB store on SecantusDB (not MongoDB): the first write to a tenant creates its received_at index, a TTL index when logs expire; a new retention is applied with collMod"
    )
    func mongoIndexes() async throws {
        let database = "t\(UInt32.random(in: 0...UInt32.max))"
        let forever = try MongoLogStore(uri: TestEnvironment.mongoURI, database: database)
        _ = try await forever.write([log("i1"), log("i2", Self.beta)])
        let plain = try #require(try Self.receivedAtIndex(forever, "acme"))
        #expect(plain["key"] == .document([BSONField("received_at", .int32(1))]))
        #expect(plain["expireAfterSeconds"] == nil)

        // Another worker (or a restart) with a 30-day retention, 7 days for beta-2: collMod, then nothing more.
        let retention = RetentionPolicy(period: .seconds(30 * 86_400), overrides: [Self.beta: .seconds(7 * 86_400)])
        let expiring = try MongoLogStore(uri: TestEnvironment.mongoURI, database: database, retention: retention)
        _ = try await expiring.write([log("i3"), log("i4", Self.beta), log("i5", TenantID("gamma")!)])
        #expect(try Self.receivedAtIndex(expiring, "acme")?["expireAfterSeconds"]?.integer == 2_592_000)
        #expect(try Self.receivedAtIndex(expiring, "beta-2")?["expireAfterSeconds"]?.integer == 604_800)
        #expect(try Self.receivedAtIndex(expiring, "gamma")?["expireAfterSeconds"]?.integer == 2_592_000)
        let again = try MongoLogStore(uri: TestEnvironment.mongoURI, database: database, retention: retention)
        _ = try await again.write([log("i6")])
        #expect(try store(again, indexesOf: "acme") == 2, "the _id index and received_at_1, nothing added")

        // Back to forever: the TTL goes (the index is rebuilt without it).
        let keepAll = try MongoLogStore(uri: TestEnvironment.mongoURI, database: database, retention: RetentionPolicy(overrides: [:]))
        _ = try await keepAll.write([log("i7")])
        let rebuilt = try #require(try Self.receivedAtIndex(keepAll, "acme"))
        #expect(rebuilt["expireAfterSeconds"] == nil)
        #expect(try await keepAll.count(tenant: Self.acme) == 4, "i1, i3, i6 and i7: no log lost to the index changes")
    }

    @Test("several workers meeting a new tenant at once all store, and the tenant ends with one received_at index", arguments: Kind.allCases)
    func concurrentFirstWrites(_ kind: Kind) async throws {
        let database = "t\(UInt32.random(in: 0...UInt32.max))"
        let path = "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite"
        let retention = RetentionPolicy(period: .seconds(86_400))
        let stores: [any LogStore] = try (0..<4).map { _ -> any LogStore in
            if kind == .sqlite { return try SQLiteLogStore(path: path) }
            return try MongoLogStore(uri: TestEnvironment.mongoURI, database: database, retention: retention)
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, store) in stores.enumerated() {
                group.addTask {
                    let result = try await store.write((0..<25).map { log("c\(index)-\($0)") })
                    #expect(result == StoreWriteResult(stored: 25), "every log of the write accounted for as new")
                }
            }
            try await group.waitForAll()
        }
        #expect(try await stores[0].count(tenant: Self.acme) == 100)
        if let mongo = stores[0] as? MongoLogStore {
            let indexes = try mongo.pool.listIndexes(database: database, collection: "acme")
            #expect(indexes.count == 2, "_id_ and received_at_1")
            #expect(try Self.receivedAtIndex(mongo, "acme")?["expireAfterSeconds"]?.integer == 86_400)
        }
    }

    func store(_ store: MongoLogStore, indexesOf collection: String) throws -> Int {
        try store.pool.listIndexes(database: store.database, collection: collection).count
    }

    @Test("SQLite store: each table has a received_at index, and tail reads through it")
    func sqliteIndex() async throws {
        let path = "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite"
        let store = try SQLiteLogStore(path: path)
        _ = try await store.write([log("s1")])
        let queue = try DatabaseQueue(path: path)
        let indexes = try await queue.read { db in
            try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'acme'")
        }
        #expect(indexes.contains("acme.received_at"))
        let plan = try await queue.read { db in
            try Row.fetchAll(
                db, sql: "EXPLAIN QUERY PLAN SELECT log_id FROM \"acme\" WHERE received_at >= '2026' ORDER BY received_at DESC, rowid DESC LIMIT 5"
            )
            .map { $0["detail"] as String? ?? "" }.joined(separator: " | ")
        }
        #expect(plan.contains("acme.received_at"), "plan: \(plan)")
        #expect(try await store.tenants() == [Self.acme], "an index is not a tenant")
    }

    @Test("SQLite store: retention deletes rows received before the cut-off in small batches, per tenant, and keeps the rest")
    func sqliteRetention() async throws {
        let store = try SQLiteLogStore(path: "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite")
        let now = UnixTime(stamp: "2026-12-01T12:00:00.000Z")!
        // 25 logs of acme 40 days old, 3 of a day old; beta-2 keeps 7 days; audit keeps everything.
        _ = try await store.write((0..<25).map { log("old-\($0)", receivedAt: "2026-10-22T12:00:\($0 < 10 ? "0" : "")\($0).000Z") })
        _ = try await store.write((0..<3).map { log("new-\($0)", receivedAt: "2026-11-30T12:00:0\($0).000Z") })
        _ = try await store.write([
            log("b-old", Self.beta, receivedAt: "2026-11-20T00:00:00.000Z"),
            log("b-new", Self.beta, receivedAt: "2026-11-30T00:00:00.000Z"),
        ])
        let audit = TenantID("audit")!
        _ = try await store.write([log("a-old", audit, receivedAt: "2020-01-01T00:00:00.000Z")])
        let overrides: [TenantID: Duration?] = [Self.beta: .seconds(7 * 86_400), audit: nil as Duration?]
        let retention = RetentionPolicy(period: .seconds(30 * 86_400), overrides: overrides)
        let deleted = try await store.deleteExpired(retention: retention, now: now, batchSize: 10)
        #expect(deleted == 26)
        #expect(try await store.count(tenant: Self.acme) == 3)
        #expect(try await store.tail(tenant: Self.acme, limit: 10).allSatisfy { $0.logID.hasPrefix("new-") })
        #expect(try await store.get(tenant: Self.beta, logID: "b-new") != nil)
        #expect(try await store.get(tenant: Self.beta, logID: "b-old") == nil)
        #expect(try await store.count(tenant: audit) == 1)
        #expect(try await store.deleteExpired(retention: retention, now: now) == 0)
        #expect(try await store.deleteExpired(retention: RetentionPolicy(), now: now) == 0, "forever deletes nothing")
    }
}
