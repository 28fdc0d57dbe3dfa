import Foundation
import MongoBridge

/// `configureFailPoint` `failCommand` on the tests' SecantusDB server (an independent MongoDB-wire-protocol
/// server, not MongoDB), through the root user of `LOGPIPE_TEST_MONGO_ADMIN_URI`.
///
/// The server holds one `failCommand` at a time, as mongod does (arming one replaces the last), so the tests that
/// arm it take turns (``exclusive(_:)``); and each one scopes it to a client of its own by `appName`, so the other
/// suites' clients on the same server are never failed.
struct FailCommand: Sendable {
    /// The `appName` of the clients this failpoint fails (put in the URI of ``uri``).
    let appName: String
    let admin: MongoClientPool

    /// The tests' URI for the application user, with this failpoint's `appName` and `extra` options
    /// (e.g. `socketTimeoutMS=1000`, which replaces the test command's value). The driver checks the server every
    /// 500 ms (`heartbeatFrequencyMS`, 10 s by default): after a "not primary" or "shutting down" error it holds
    /// the server unknown until its next check, and injected errors do not change the server's topology version,
    /// which would make it check at once.
    func uri(_ extra: [String: String] = [:]) throws -> String {
        try Self.uri(TestEnvironment.mongoURI, adding: extra.merging(["appName": appName, "heartbeatFrequencyMS": "500"]) { $1 })
    }

    /// `base` with the query options of `extra` set (replacing the same options of `base`).
    static func uri(_ base: String, adding extra: [String: String]) -> String {
        let parts = base.split(separator: "?", maxSplits: 1).map(String.init)
        let kept = (parts.count > 1 ? parts[1].split(separator: "&").map(String.init) : []).filter { option in
            !extra.keys.contains(String(option.prefix { $0 != "=" }))
        }
        return parts[0] + "?" + (kept + extra.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }).joined(separator: "&")
    }

    /// Arms the failpoint for `commands` (default: `insert`, what the store's bulk writes are) with `mode`
    /// (`.string("alwaysOn")`, `times(n)`, `skip(_:times:)`) and the failure `data` (`errorCode`, `errorLabels`,
    /// `closeConnection`, `blockConnection` and `blockTimeMS`, `writeConcernError`).
    func arm(_ mode: BSONValue, commands: [String] = ["insert"], _ data: [BSONField]) throws {
        var fields = [BSONField("failCommands", .array(commands.map(BSONValue.string))), BSONField("appName", .string(appName))]
        fields += data
        _ = try admin.command(
            database: "admin",
            [BSONField("configureFailPoint", .string("failCommand")), BSONField("mode", mode), BSONField("data", .document(fields))])
    }

    func off() throws {
        _ = try admin.command(database: "admin", [BSONField("configureFailPoint", .string("failCommand")), BSONField("mode", .string("off"))])
    }

    static func times(_ count: Int) -> BSONValue { .document([BSONField("times", .int32(Int32(count)))]) }
    static func skip(_ skip: Int, times count: Int) -> BSONValue {
        .document([BSONField("skip", .int32(Int32(skip))), BSONField("times", .int32(Int32(count)))])
    }

    /// The root user's URI (`scripts/test.sh` exports it beside the application user's).
    static var adminURI: String {
        get throws {
            guard let uri = ProcessInfo.processInfo.environment["LOGPIPE_TEST_MONGO_ADMIN_URI"], !uri.isEmpty else {
                throw TestEnvironment.Missing(
                    description: "LOGPIPE_TEST_MONGO_ADMIN_URI is not set: run the tests with scripts/test.sh, which starts SecantusDB")
            }
            return uri
        }
    }

    /// Runs `body` with the server's failpoint to itself (other tests that arm one wait), under a fresh `appName`;
    /// the failpoint is off again afterwards, whatever `body` did.
    static func exclusive<T: Sendable>(_ body: (FailCommand) async throws -> T) async throws -> T {
        await turns.acquire()
        let failCommand: FailCommand
        do {
            failCommand = FailCommand(appName: "fp-\(UInt32.random(in: 0...UInt32.max))", admin: try MongoClientPool(uri: adminURI))
        } catch {
            await turns.release()
            throw error
        }
        do {
            let result = try await body(failCommand)
            try? failCommand.off()
            await turns.release()
            return result
        } catch {
            try? failCommand.off()
            await turns.release()
            throw error
        }
    }

    private static let turns = Turns()
}

/// A first-come, first-served lock for async code (the failpoint's owner).
private actor Turns {
    private var held = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func acquire() async {
        if !held {
            held = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            held = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
