import Foundation
import MongoBridge
import Testing

/// The MongoDB wire-protocol test double behaves like a collection store, through the real driver.
@Suite("MongoDB test double")
struct MongoDoubleTests {
    func pool() throws -> (MongoClientPool, String) {
        (try MongoClientPool(uri: TestEnvironment.mongoURI), "d\(UInt32.random(in: 0...UInt32.max))")
    }

    @Test("insert reports E11000 per duplicate; ordered inserts stop at the first error")
    func duplicates() throws {
        let (pool, db) = try pool()
        let first = try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "a"}"#, #"{"_id": "b"}"#], writeConcern: "majority")
        #expect(first.inserted == 2 && first.writeErrors.isEmpty)
        let second = try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "a"}"#, #"{"_id": "c"}"#, #"{"_id": "b"}"#], writeConcern: "1")
        #expect(second.inserted == 1)
        #expect(second.writeErrors.map(\.index) == [0, 2])
        #expect(second.writeErrors.allSatisfy { $0.code == 11000 })
        let ordered = try pool.command(database: db, #"{"insert": "c", "documents": [{"_id": "a"}, {"_id": "z"}], "ordered": true}"#)
        #expect(ordered.contains("11000"))
        #expect(try pool.count(database: db, collection: "c") == 3)
    }

    @Test("update with upsert, find with filter, sort and limit, delete, listCollections")
    func collectionStore() throws {
        let (pool, db) = try pool()
        _ = try pool.command(database: db, #"{"update": "c", "updates": [{"q": {"_id": "u"}, "u": {"$set": {"n": 1}}, "upsert": true}]}"#)
        _ = try pool.command(database: db, #"{"update": "c", "updates": [{"q": {"_id": "u"}, "u": {"$set": {"n": 2}}}]}"#)
        _ = try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "v", "n": 3}"#, #"{"_id": "w", "n": 1}"#], writeConcern: "1")
        #expect(try pool.find(database: db, collection: "c", filter: #"{"_id": "u"}"#).first?.contains(#""n" : 2"#) == true)
        let sorted = try pool.find(database: db, collection: "c", filter: "{}", sort: #"{"n": -1}"#, limit: 2)
        #expect(sorted.count == 2 && sorted[0].contains(#""_id" : "v""#) && sorted[1].contains(#""_id" : "u""#))
        #expect(try pool.count(database: db, collection: "c", filter: [BSONField("n", .int32(1))]) == 1)
        _ = try pool.command(database: db, #"{"delete": "c", "deletes": [{"q": {"_id": "w"}, "limit": 1}]}"#)
        #expect(try pool.count(database: db, collection: "c") == 2)
        #expect(try pool.command(database: db, #"{"listCollections": 1}"#).contains(#""name" : "c""#))
    }

    @Test("injected failures: a failing write is an error, a dropped connection is unreachable, then writes work again")
    func injectedFailures() throws {
        let (pool, db) = try pool()
        _ = try pool.command(database: db, #"{"logpipeDouble": 1, "failWrites": 1}"#)
        #expect(throws: MongoError.self) { try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": 1}"#], writeConcern: "1") }
        _ = try pool.command(database: db, #"{"logpipeDouble": 1, "failWrites": 1, "mode": "hangup"}"#)
        #expect { try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": 1}"#], writeConcern: "1") } throws: { error in
            (error as? MongoError)?.code == .unreachable
        }
        #expect(try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": 1}"#], writeConcern: "1").inserted == 1)
    }

    @Test("a bulk insert the driver splits, whose first part is all duplicates and whose second part fails at the network, fails as a whole")
    func splitBulkFailsWhole() throws {
        let (pool, db) = try pool()
        _ = try pool.insertMany(database: db, collection: "c", documents: [#"{"_id": "d1"}"#, #"{"_id": "d2"}"#], writeConcern: "1")
        // A client whose server announces batches of two documents: four documents go as two insert commands.
        _ = try pool.command(database: "admin", #"{"logpipeDouble": 1, "maxWriteBatchSize": 2}"#)
        let split = try MongoClientPool(uri: TestEnvironment.mongoURI)
        let connected = Result { try split.ping() }
        _ = try pool.command(database: "admin", #"{"logpipeDouble": 1, "maxWriteBatchSize": 100000}"#)
        try connected.get()
        _ = try pool.command(database: db, #"{"logpipeDouble": 1, "failWrites": 1, "mode": "hangup", "after": 1}"#)
        #expect(throws: MongoError.self) {
            try split.insertMany(
                database: db, collection: "c",
                documents: [#"{"_id": "d1"}"#, #"{"_id": "d2"}"#, #"{"_id": "d3"}"#, #"{"_id": "d4"}"#], writeConcern: "1")
        }
        #expect(try pool.count(database: db, collection: "c") == 2)
        let again = try split.insertMany(
            database: db, collection: "c",
            documents: [#"{"_id": "d1"}"#, #"{"_id": "d2"}"#, #"{"_id": "d3"}"#, #"{"_id": "d4"}"#], writeConcern: "1")
        #expect(again.inserted == 2 && again.writeErrors.count == 2)
    }

    @Test("URI options reach libmongoc: tls=true against the double's plain port fails as tls_failed, credentials it cannot check as authentication_failed")
    func tlsAndAuthNamed() throws {
        let base = try TestEnvironment.mongoURI
        // The handshake must time out before server selection gives up, or the driver reports only the latter.
        let host = try #require(base.split(separator: "/").dropFirst().first)
        let tls = try MongoClientPool(
            uri: "mongodb://\(host)/?directConnection=true&tls=true&tlsCAFile=/etc/ssl/certs/ca-certificates.crt"
                + "&connectTimeoutMS=500&serverSelectionTimeoutMS=4000")
        #expect {
            try tls.ping()
        } throws: { error in
            print("tls=true against a plain server: \(error)")
            return (error as? MongoError)?.code == .tlsFailed
        }
        let credentials = try MongoClientPool(uri: base.replacingOccurrences(of: "mongodb://", with: "mongodb://app:s3cret@") + "&authSource=admin")
        do {
            try credentials.ping()
            Issue.record("the double accepted credentials it cannot check")
        } catch let error as MongoError {
            #expect(error.code == .authenticationFailed, "\(error)")
            #expect(!error.description.contains("s3cret"))
        }
    }
}
