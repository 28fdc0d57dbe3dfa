import Synchronization
import Testing

@testable import MongoBridge

@Suite("libmongoc's own log lines")
struct MongoDriverLogTests {
    @Test("a driver line that quotes a server's reply reaches the handler cut before the quote: no duplicate key, no document value")
    func quotedReplyIsCut() {
        let lines = Mutex<[String]>([])
        MongoDriverLog.route { _, domain, message in lines.withLock { $0.append("\(domain): \(message)") } }
        MongoDriverLog.deliver(
            .warning, domain: "test.cluster",
            message: #"E11000 duplicate key error collection: logs.acme index: _id_ dup key: { _id: "alice@example.com" }"#)
        MongoDriverLog.deliver(.error, domain: "test.client", message: #"Failed to parse reply { "text": "card 4111 1111 1111 1111" }"#)
        // The driver's own lines of tests running beside this one reach the handler too: only this test's count.
        let seen = lines.withLock { $0 }.filter { $0.hasPrefix("test.") }
        #expect(seen == ["test.cluster: E11000 duplicate key error collection: logs.acme index: _id_", "test.client: Failed to parse reply"])
    }
}
