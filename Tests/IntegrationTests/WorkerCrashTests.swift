import AMQPBridge
import Foundation
import Glibc
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

/// The `logpipe worker` executable killed and stopped under load, against the real broker and a SQLite file.
@Suite("Worker process crash and shutdown", .serialized, .timeLimit(.minutes(5)))
struct WorkerCrashTests {
    /// A fresh namespace with `count` queued logs and an empty SQLite file for the worker process.
    func prepared(_ count: Int) async throws -> (BrokerFixture, sqlite: String, store: SQLiteLogStore) {
        let fixture = try await BrokerFixture.start()
        let sqlite = "/tmp/logpipe-crash-tests/\(UUID().uuidString).sqlite"
        let store = try SQLiteLogStore(path: sqlite)
        try await fixture.publishLogs(count)
        return (fixture, sqlite, store)
    }

    func environment(_ fixture: BrokerFixture, sqlite: String, extra: [String: String] = [:]) -> [String: String] {
        [
            "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
            "LOGPIPE_SQLITE_PATH": sqlite, "LOG_LEVEL": "warning",
        ].merging(extra) { $1 }
    }

    /// A worker process slowed down to `secondsPerCharacter` of simulated work, so a signal lands mid-batch.
    func slowWorker(_ fixture: BrokerFixture, sqlite: String, secondsPerCharacter: String, prefetch: Int, log: String) throws -> WorkerProcess {
        let extra = ["PROCESSING_TIME_PER_CHAR": secondsPerCharacter, "LOGPIPE_BATCH_SIZE": "100", "LOGPIPE_PREFETCH": "\(prefetch)"]
        return try WorkerProcess(["worker"], environment: environment(fixture, sqlite: sqlite, extra: extra), logPath: sqlite + log)
    }

    @Test("a worker killed with SIGKILL in the middle of 5,000 logs and started again leaves exactly 5,000 stored and an empty queue")
    func sigkillMidway() async throws {
        let (fixture, sqlite, store) = try await prepared(5000)
        let acme = TenantID("acme")!
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 5000)

        // Slowed down (about 1.5 ms per log) so the kill lands mid-stream.
        let first = try slowWorker(fixture, sqlite: sqlite, secondsPerCharacter: "0.00004", prefetch: 200, log: ".worker1.log")
        let started = try await eventually(timeout: .seconds(60)) { try await store.count(tenant: acme) >= 500 }
        first.signal(SIGKILL)
        #expect(await first.wait() == 128 + SIGKILL)
        let atKill = try await store.count(tenant: acme)
        #expect(started)
        #expect(atKill < 5000, "the worker finished before it was killed; the test proves nothing")

        let second = try WorkerProcess(["worker"], environment: environment(fixture, sqlite: sqlite), logPath: sqlite + ".worker2.log")
        let finished = try await eventually(timeout: .seconds(90)) { try await store.count(tenant: acme) == 5000 }
        let drained = try await eventually { try await fixture.readyCount(fixture.topology.workQueue) == 0 }
        second.signal(SIGTERM)
        #expect(await second.wait() == 0)
        #expect(finished)
        #expect(drained)
        #expect(try await store.count(tenant: acme) == 5000)
        // Nothing was left unacked by the second worker: after it stopped, the queue is still empty.
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 0)
        #expect(try await store.get(tenant: acme, logID: "k-4999")?.text == "crash test line 4999 [REDACTED:EMAIL]")
        await fixture.tearDown()
    }

    @Test("a worker stopped with SIGTERM finishes and acks its current batch, and leaves the rest in the queue")
    func sigtermFinishesBatch() async throws {
        let (fixture, sqlite, store) = try await prepared(1000)
        let acme = TenantID("acme")!

        // About 0.4 s per batch of 100: a batch is always in progress.
        let worker = try slowWorker(fixture, sqlite: sqlite, secondsPerCharacter: "0.0001", prefetch: 300, log: ".worker.log")
        let running = try await eventually(timeout: .seconds(60)) { try await store.count(tenant: acme) >= 100 }
        #expect(running)
        let atSignal = try await store.count(tenant: acme)
        worker.signal(SIGTERM)
        #expect(await worker.wait() == 0)
        let stored = try await store.count(tenant: acme)
        let ready = try await eventually { try await Int(fixture.readyCount(fixture.topology.workQueue)) == 1000 - stored }
        #expect(stored > atSignal, "the batch in progress at SIGTERM was not stored")
        #expect(stored < 1000, "the worker finished everything before the signal; the test proves nothing")
        #expect(ready, "stored + ready must be 1000: nothing lost, nothing left unacked")
        await fixture.tearDown()
    }
}
