import Foundation
import MongoBridge
import TestSupport
import Testing

/// The MongoDB bridge (libmongoc) against SecantusDB, an independent MongoDB-wire-protocol server (not MongoDB):
/// what the store relies on, and the failures it must name.
@Suite("MongoDB bridge on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)", .timeLimit(.minutes(3)))
struct MongoBridgeServerTests {
    func pool() throws -> (MongoClientPool, String) {
        (try MongoClientPool(uri: TestEnvironment.mongoURI), "d\(UInt32.random(in: 0...UInt32.max))")
    }

    @Test("insert reports E11000 per duplicate; ordered inserts stop at the first error")
    func duplicates() async throws {
        let (pool, db) = try pool()
        let first = try await offPool {
            try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "a"}"#, #"{"_id": "b"}"#], writeConcern: "majority")
        }
        #expect(first.inserted == 2 && first.writeErrors.isEmpty)
        let second = try await offPool {
            try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "a"}"#, #"{"_id": "c"}"#, #"{"_id": "b"}"#], writeConcern: "1")
        }
        #expect(second.inserted == 1)
        #expect(second.writeErrors.map(\.index) == [0, 2])
        #expect(second.writeErrors.allSatisfy { $0.code == 11000 })
        #expect(second.writeErrors.allSatisfy { !$0.message.contains("\"a\"") && !$0.message.contains("\"b\"") }, "no key values in messages")
        let ordered = try await offPool { try pool.command(database: db, #"{"insert": "c", "documents": [{"_id": "a"}, {"_id": "z"}], "ordered": true}"#) }
        #expect(ordered.contains("11000"))
        #expect(try await offPool { try pool.count(database: db, collection: "c") } == 3)
    }

    @Test("update with upsert, find with filter, sort and limit, delete, listCollections")
    func collectionStore() async throws {
        let (pool, db) = try pool()
        let (upserted, sorted, ones, left, collections) = try await offPool {
            _ = try pool.command(database: db, #"{"update": "c", "updates": [{"q": {"_id": "u"}, "u": {"$set": {"n": 1}}, "upsert": true}]}"#)
            _ = try pool.command(database: db, #"{"update": "c", "updates": [{"q": {"_id": "u"}, "u": {"$set": {"n": 2}}}]}"#)
            _ = try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "v", "n": 3}"#, #"{"_id": "w", "n": 1}"#], writeConcern: "1")
            let upserted = try pool.find(database: db, collection: "c", filter: #"{"_id": "u"}"#)
            let sorted = try pool.find(database: db, collection: "c", filter: "{}", sort: #"{"n": -1}"#, limit: 2)
            let ones = try pool.count(database: db, collection: "c", filter: [BSONField("n", .int32(1))])
            _ = try pool.command(database: db, #"{"delete": "c", "deletes": [{"q": {"_id": "w"}, "limit": 1}]}"#)
            return (upserted, sorted, ones, try pool.count(database: db, collection: "c"), try pool.command(database: db, #"{"listCollections": 1}"#))
        }
        #expect(upserted.first?.contains(#""n" : 2"#) == true)
        #expect(sorted.count == 2 && sorted[0].contains(#""_id" : "v""#) && sorted[1].contains(#""_id" : "u""#))
        #expect(ones == 1)
        #expect(left == 2)
        #expect(collections.contains(#""name" : "c""#))
    }

    @Test(
        "a bulk insert the driver splits (over 48 MB), whose first part is all duplicates and whose second part loses its connection, fails as a whole; again, it inserts the rest"
    )
    func splitBulkFailsWhole() async throws {
        try await FailCommand.exclusive { failCommand in
            let pool = try MongoClientPool(uri: failCommand.uri())
            let db = "d\(UInt32.random(in: 0...UInt32.max))"
            // Four documents of 15 MB: the driver sends three in one insert command (the server takes 48 MB a
            // message) and the fourth in a second one.
            let padding = String(repeating: "x", count: 15_000_000)
            let documents = ["d1", "d2", "d3", "d4"].map { [BSONField("_id", .string($0)), BSONField("pad", .string(padding))] }
            let first = try await offPool { try pool.insertMany(database: db, collection: "c", documents: Array(documents[0..<3]), writeConcern: "1") }
            #expect(first.inserted == 3)
            // The second insert command (and the driver's retry of it) finds its connection closed.
            try failCommand.arm(FailCommand.skip(1, times: 2), [BSONField("closeConnection", .bool(true))])
            let failed = try await offPool { () -> (any Error)? in
                do {
                    _ = try pool.insertMany(database: db, collection: "c", documents: documents, writeConcern: "1")
                    return nil
                } catch {
                    return error
                }
            }
            #expect(failed is MongoError, "\(String(describing: failed))")
            try failCommand.off()
            #expect(try await offPool { try pool.count(database: db, collection: "c") } == 3)
            let again = try await offPool { try pool.insertMany(database: db, collection: "c", documents: documents, writeConcern: "1") }
            #expect(again.inserted == 1 && again.writeErrors.count == 3)
        }
    }

    @Test(
        "URI options reach libmongoc: tls=true against a plain server fails as tls_failed, a wrong password as authentication_failed, and neither message holds the password"
    )
    func tlsAndAuthNamed() async throws {
        let base = try TestEnvironment.mongoURI
        let host = try #require(base.split(separator: "@").last?.split(separator: "/").first)
        // The handshake must time out before server selection gives up, or the driver reports only the latter.
        let tls = try MongoClientPool(
            uri: "mongodb://\(host)/?directConnection=true&tls=true&tlsCAFile=/etc/ssl/certs/ca-certificates.crt"
                + "&connectTimeoutMS=500&serverSelectionTimeoutMS=4000")
        let tlsError = try await offPool { () -> MongoError? in
            do {
                try tls.ping()
                return nil
            } catch {
                return error as? MongoError
            }
        }
        #expect(tlsError?.code == .tlsFailed, "\(String(describing: tlsError))")
        let wrong = try MongoClientPool(uri: "mongodb://logpipe:not-the-s3cret@\(host)/?directConnection=true&authSource=admin&serverSelectionTimeoutMS=3000")
        let authError = try await offPool { () -> MongoError? in
            do {
                try wrong.ping()
                return nil
            } catch {
                return error as? MongoError
            }
        }
        let error = try #require(authError, "the server accepted a wrong password")
        #expect(error.code == .authenticationFailed, "\(error)")
        #expect(!error.description.contains("not-the-s3cret"))
    }
}
