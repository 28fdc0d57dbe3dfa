import Foundation
import Glibc
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

/// `logpipe logs tail`: filters, `--since`, and `--follow` as a user runs them (the built executable).
@Suite("logpipe logs tail")
struct LogsCommandTests {
    static let acme = TenantID("acme")!

    static func log(_ id: String, receivedAt: UnixTime, level: String = "info", text: String = "hello") -> StoredLog {
        StoredLog(
            logID: id, tenantID: acme, text: text, redactions: [:], receivedAt: receivedAt.rfc3339,
            processedAt: receivedAt.rfc3339, requestID: "r", fields: LogFields(level: level))
    }

    static func store() throws -> (SQLiteLogStore, String) {
        let path = "/tmp/logpipe-logs-tests/\(UUID().uuidString).sqlite"
        return (try SQLiteLogStore(path: path), path)
    }

    static func ids(_ output: String) -> [String] {
        output.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["log_id"] as? String
        }
    }

    /// Runs `logpipe logs …` to completion; returns its exit status and standard output.
    static func run(_ arguments: [String]) async throws -> (Int32, String) {
        let output = "/tmp/logpipe-logs-tests/\(UUID().uuidString).out"
        let process = try WorkerProcess(
            ["logs"] + arguments, environment: ["LOGPIPE_MONGO_URI": ""], logPath: output,
            errorPath: output + ".err")
        let status = await process.wait()
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }

    @Test("--since (a duration or a time), --level and --grep narrow the tail; a bad --since is a clear error")
    func filters() async throws {
        let (store, path) = try Self.store()
        let now = UnixTime.now
        _ = try await store.write([
            Self.log("old", receivedAt: UnixTime(milliseconds: now.milliseconds - 3_600_000), level: "error", text: "disk full"),
            Self.log("recent-error", receivedAt: UnixTime(milliseconds: now.milliseconds - 60_000), level: "error", text: "disk full"),
            Self.log("recent-info", receivedAt: UnixTime(milliseconds: now.milliseconds - 30_000), text: "disk ok"),
        ])
        let base = ["tail", "--tenant", "acme", "--sqlite-path", path]
        #expect(Self.ids(try await Self.run(base).1) == ["recent-info", "recent-error", "old"])
        #expect(Self.ids(try await Self.run(base + ["--since", "10m"]).1) == ["recent-info", "recent-error"])
        let since = UnixTime(milliseconds: now.milliseconds - 45_000).rfc3339
        #expect(Self.ids(try await Self.run(base + ["--since", since]).1) == ["recent-info"])
        #expect(Self.ids(try await Self.run(base + ["--level", "error"]).1) == ["recent-error", "old"])
        #expect(Self.ids(try await Self.run(base + ["--grep", "full", "--since", "2h"]).1) == ["recent-error", "old"])
        let (status, _) = try await Self.run(base + ["--since", "last tuesday"])
        #expect(status != 0)
    }

    @Test("--follow prints the last logs oldest first, then each log as it is stored, once, including one stored late")
    func follow() async throws {
        let (store, path) = try Self.store()
        let start = UnixTime.now
        func at(_ seconds: Int) -> UnixTime { UnixTime(milliseconds: start.milliseconds - 100_000 + UInt64(seconds) * 1000) }
        _ = try await store.write((1...5).map { Self.log("before-\($0)", receivedAt: at($0)) })
        let output = "/tmp/logpipe-logs-tests/\(UUID().uuidString).out"
        let process = try WorkerProcess(
            [
                "logs", "tail", "--tenant", "acme", "--sqlite-path", path, "--limit", "2", "--follow",
                "--interval", "0.1",
            ], environment: ["LOGPIPE_MONGO_URI": ""], logPath: output,
            errorPath: output + ".err")
        defer { process.signal(SIGKILL) }
        func printed() -> [String] { Self.ids((try? String(contentsOfFile: output, encoding: .utf8)) ?? "") }
        #expect(try await eventually { printed() == ["before-4", "before-5"] }, "\(printed())")

        // New logs, then one received before the newest but stored after it (within the lookback).
        _ = try await store.write([Self.log("new-1", receivedAt: at(10)), Self.log("new-2", receivedAt: at(11))])
        #expect(try await eventually { printed().count == 4 }, "\(printed())")
        _ = try await store.write([Self.log("late", receivedAt: at(9)), Self.log("new-3", receivedAt: at(12), level: "debug")])
        #expect(try await eventually { printed().count == 6 }, "\(printed())")
        #expect(printed() == ["before-4", "before-5", "new-1", "new-2", "late", "new-3"])
        // Nothing is printed twice on later polls.
        _ = try await store.write([Self.log("new-4", receivedAt: at(13))])
        #expect(try await eventually { printed().count == 7 }, "\(printed())")
        #expect(printed().last == "new-4")
        #expect(Set(printed()).count == printed().count)
    }

    @Test("LogFollower pages through a burst larger than a page without losing or repeating a log")
    func followerPaging() async throws {
        let (store, _) = try Self.store()
        let base = UnixTime.now.milliseconds - 50_000
        _ = try await store.write([Self.log("seed", receivedAt: UnixTime(milliseconds: base))])
        var follower = LogFollower(query: LogQuery(limit: 1), lookback: .seconds(5))
        #expect(try await follower.start(store, tenant: Self.acme).map(\.logID) == ["seed"])
        // 2,500 logs, three per millisecond: pages of 1,000 end inside a millisecond.
        let burst = (0..<2500).map { Self.log(String(format: "b-%04d", $0), receivedAt: UnixTime(milliseconds: base + 1 + UInt64($0 / 3))) }
        _ = try await store.write(burst)
        let printed = try await follower.poll(store, tenant: Self.acme).map(\.logID)
        #expect(printed.count == 2500)
        #expect(Set(printed) == Set(burst.map(\.logID)))
        #expect(try await follower.poll(store, tenant: Self.acme).isEmpty)
    }
}

extension LogsCommandTests {
    @Test("LogFollower reads on past 2,500 logs of one millisecond (one batch shares its receive time; found in review)")
    func followerSameMillisecond() async throws {
        let (store, _) = try Self.store()
        let base = UnixTime.now.milliseconds - 50_000
        _ = try await store.write([Self.log("seed", receivedAt: UnixTime(milliseconds: base))])
        var follower = LogFollower(query: LogQuery(limit: 1), lookback: .seconds(5))
        #expect(try await follower.start(store, tenant: Self.acme).map(\.logID) == ["seed"])
        let batch = (0..<2500).map { Self.log(String(format: "m-%04d", $0), receivedAt: UnixTime(milliseconds: base + 10)) }
        _ = try await store.write(batch)
        #expect(Set(try await follower.poll(store, tenant: Self.acme).map(\.logID)) == Set(batch.map(\.logID)))
        _ = try await store.write([Self.log("after", receivedAt: UnixTime(milliseconds: base + 20))])
        #expect(try await follower.poll(store, tenant: Self.acme).map(\.logID) == ["after"])
    }
}

/// Retention as a user turns it on: `LOGPIPE_RETENTION` on a `logpipe worker` with the SQLite store.
@Suite("Retention (SQLite)", .timeLimit(.minutes(2)))
struct RetentionProcessTests {
    @Test("a worker with LOGPIPE_RETENTION=1d deletes rows received over a day ago in the background and keeps the rest, per the tenants file")
    func workerSweeps() async throws {
        let fixture = try await BrokerFixture.start()
        defer { Task { await fixture.tearDown() } }
        let path = "/tmp/logpipe-retention-tests/\(UUID().uuidString).sqlite"
        let store = try SQLiteLogStore(path: path)
        let now = UnixTime.now.milliseconds
        let old = UnixTime(milliseconds: now - 2 * 86_400_000), recent = UnixTime(milliseconds: now - 3_600_000)
        let acme = TenantID("acme")!, audit = TenantID("audit")!
        func log(_ id: String, _ tenant: TenantID, _ at: UnixTime) -> StoredLog {
            StoredLog(logID: id, tenantID: tenant, text: "t", redactions: [:], receivedAt: at.rfc3339, processedAt: at.rfc3339, requestID: "r")
        }
        _ = try await store.write((0..<30).map { log("old-\($0)", acme, old) } + [log("recent", acme, recent), log("kept", audit, old)])
        let tenants = path + ".tenants.json"
        try Data(#"{"audit": {"retention": "forever"}}"#.utf8).write(to: URL(fileURLWithPath: tenants))
        let worker = try WorkerProcess(
            ["worker"],
            environment: [
                "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
                "LOGPIPE_SQLITE_PATH": path, "LOGPIPE_MONGO_URI": "", "LOG_LEVEL": "info", "LOGPIPE_WORKER_HTTP_PORT": "0",
                "LOGPIPE_RETENTION": "1d", "LOGPIPE_RETENTION_SWEEP_S": "0.2", "LOGPIPE_TENANTS_FILE": tenants,
            ], logPath: path + ".worker.log")
        defer { worker.signal(SIGKILL) }
        let swept = try await eventually(timeout: .seconds(30)) { try await store.count(tenant: acme) == 1 }
        #expect(swept)
        #expect(try await store.get(tenant: acme, logID: "recent") != nil)
        #expect(try await store.count(tenant: audit) == 1, "the tenants file keeps audit's logs forever")
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let output = (try? String(contentsOfFile: path + ".worker.log", encoding: .utf8)) ?? ""
        #expect(output.contains("expired logs deleted"))
    }
}
