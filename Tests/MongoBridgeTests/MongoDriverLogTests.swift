import Synchronization
import Testing

@testable import MongoBridge

@Suite("libmongoc's own log lines")
struct MongoDriverLogTests {
    @Test("a driver line that quotes a server's reply reaches the handler cut before the quote: no duplicate key, no document value")
    func quotedReplyIsCut() {
        let lines = Mutex<[String]>([])
        // The test's own handler, given to the delivery directly: route(_:) sets one handler for the whole process,
        // which a store opened by a test running beside this one may replace at any moment.
        let handler: @Sendable (MongoDriverLog.Level, String, String) -> Void = { _, domain, message in
            lines.withLock { $0.append("\(domain): \(message)") }
        }
        MongoDriverLog.deliver(
            .warning, domain: "cluster",
            message: #"E11000 duplicate key error collection: logs.acme index: _id_ dup key: { _id: "alice@example.com" }"#,
            to: handler)
        MongoDriverLog.deliver(
            .error, domain: "client", message: #"Failed to parse reply { "text": "card 4111 1111 1111 1111" }"#, to: handler)
        #expect(lines.withLock { $0 } == ["cluster: E11000 duplicate key error collection: logs.acme index: _id_", "client: Failed to parse reply"])
    }
}
