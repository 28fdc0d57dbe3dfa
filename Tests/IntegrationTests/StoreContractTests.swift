import Foundation
@testable import LogPipeApp
import LogPipeCore
import Testing

/// The behaviour every `LogStore` must have, run against SQLite and against the MongoDB wire-protocol test
/// double (through the real libmongoc driver).
@Suite("Store contract")
struct StoreContractTests {
    /// A fresh, empty store of each kind.
    enum Kind: String, CaseIterable, CustomTestStringConvertible {
        case sqlite
        case mongoTestDouble
        var testDescription: String { rawValue }

        func make() throws -> any LogStore {
            switch self {
            case .sqlite:
                try SQLiteLogStore(path: "/tmp/logpipe-store-tests/\(UUID().uuidString).sqlite")
            case .mongoTestDouble:
                try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
            }
        }
    }

    static let acme = TenantID("acme")!
    static let beta = TenantID("beta-2")!

    func log(_ id: String, _ tenant: TenantID = acme, text: String = "hello", redactions: [String: Int] = [:]) -> StoredLog {
        StoredLog(logID: id, tenantID: tenant, text: text, redactions: redactions, receivedAt: "2026-11-29T10:00:00.000Z",
                  processedAt: "2026-11-29T10:00:01.000Z", requestID: "req-\(id)", timestamp: "2026-11-29T09:59:59Z",
                  level: "info", source: "web", attributes: ["port": .int(443), "ok": .bool(true), "ratio": .double(0.5), "user": .string("u1")])
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
        original.attributes = ["$numberLong": .string("5"), "$oid": .string("x"), "a.b": .int(1), "$date": .int(7),
                               "json": .string(#"{"$oid":"x"}"#), "ratio": .double(0.25)]
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

    @Test("tail lists the newest first, limited; unknown tenants are empty", arguments: Kind.allCases)
    func tail(_ kind: Kind) async throws {
        let store = try kind.make()
        _ = try await store.write((1...5).map { log("t\($0)") })
        _ = try await store.write([log("t6")])
        #expect(try await store.tail(tenant: Self.acme, limit: 3).map(\.logID) == ["t6", "t5", "t4"])
        #expect(try await store.tail(tenant: TenantID("nobody")!, limit: 3).isEmpty)
        #expect(try await store.get(tenant: TenantID("nobody")!, logID: "t1") == nil)
        #expect(try await store.count(tenant: TenantID("nobody")!) == 0)
        try await store.ping()
    }

    @Test("MongoDB store: injected write failures are transient errors, and a retry stores each document once")
    func mongoWriteFailure() async throws {
        let store = try MongoLogStore(uri: TestEnvironment.mongoURI, database: "t\(UInt32.random(in: 0...UInt32.max))")
        _ = try await store.write([log("before")])
        _ = try store.pool.command(database: store.database, #"{"logpipeDouble": 1, "failWrites": 1}"#)
        await #expect(throws: StoreError.self) { try await store.write([log("a"), log("b")]) }
        let retry = try await store.write([log("a"), log("b"), log("before")])
        #expect(retry == StoreWriteResult(stored: 2, duplicates: 1))
        #expect(try await store.count(tenant: Self.acme) == 3)
    }

    @Test("MongoDB store: each tenant is its own collection named by the tenant id, documents keyed by log_id")
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
}

