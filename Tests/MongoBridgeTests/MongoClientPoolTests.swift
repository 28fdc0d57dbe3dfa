import MongoBridge
import Testing

/// The pool through the real libmongoc driver, without a server (the store tests use the test double).
@Suite("MongoDB client pool")
struct MongoClientPoolTests {
    @Test(
        "an invalid connection string is a clear error that does not echo it",
        arguments: [
            "notmongo://user:hunter2@h/", "mongodb://user:hunter2@", "", "mongodb://h:99999999/",
        ])
    func invalidURI(_ uri: String) {
        do {
            _ = try MongoClientPool(uri: uri)
            Issue.record("accepted \(uri)")
        } catch let error as MongoError {
            #expect(error.code == .invalidURI)
            #expect(!error.description.contains("hunter2"))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("with nothing listening, ping fails as unreachable after the server selection timeout")
    func unreachable() throws {
        let pool = try MongoClientPool(uri: "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
        let started = ContinuousClock.now
        #expect {
            try pool.ping()
        } throws: { error in
            (error as? MongoError)?.code == .unreachable
        }
        #expect(ContinuousClock.now - started < .seconds(10))
    }
}
