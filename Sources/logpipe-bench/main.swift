import AMQPBridge
import ArgumentParser
import Dispatch
import Foundation
import GRDB
import LogPipeCore
import Logging

/// Helpers for `scripts/bench.sh`: the broker's own publish ceiling, and what a store holds after a run.
struct LogPipeBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logpipe-bench", abstract: "Benchmark helpers (see scripts/bench.sh).",
        subcommands: [PublishCeiling.self, Stored.self, EndToEnd.self])

    /// A minimal confirmed publisher: `inflight` persistent publishes always awaiting their confirm.
    struct PublishCeiling: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "publish-ceiling",
            abstract: "Persistent, confirmed publishes/s the broker takes from one connection with many in flight.")
        @Option var url: String
        @Option var queue = "bench.ceiling"
        @Option var seconds = 10.0
        @Option var size = 200
        @Option var inflight = 1000
        @Option(help: "Messages per publish call: 1 publishes each alone; more uses the bridge's grouped publish (one hop per group).")
        var group = 1

        func run() async throws {
            var logger = Logger(label: "bench")
            logger.logLevel = .error
            let connection = AMQPConnection(
                configuration: try AMQPConfiguration(url: url),
                topology: AMQPTopology(queues: [.init(name: queue)]), logger: logger)
            connection.start()
            try await connection.waitUntilConnected(timeout: .seconds(10))
            _ = try await connection.purge(queue)
            let body = [UInt8](repeating: UInt8(ascii: "x"), count: size)
            let properties = AMQPProperties(contentType: "application/json", deliveryMode: 2)
            let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
            let start = ContinuousClock.now
            let messages = [AMQPConnection.OutgoingMessage](
                repeating: .init(exchange: "", routingKey: queue, body: body, properties: properties), count: max(1, group))
            let confirmed = try await withThrowingTaskGroup(of: Int.self) { tasks in
                for _ in 0..<max(1, inflight / max(1, group)) {
                    tasks.addTask {
                        var count = 0
                        while ContinuousClock.now < deadline {
                            if messages.count == 1 {
                                try await connection.publish(exchange: "", routingKey: queue, body: body, properties: properties)
                                count += 1
                            } else {
                                let outcomes = await connection.publish(messages)
                                if let failure = outcomes.lazy.compactMap({ $0 }).first { throw failure }
                                count += outcomes.count
                            }
                        }
                        return count
                    }
                }
                return try await tasks.reduce(0, +)
            }
            let elapsed = ContinuousClock.now - start
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            _ = try await connection.purge(queue)
            try await connection.deleteQueue(queue)
            await connection.close()
            struct Result: Encodable {
                var confirmed: Int
                var seconds: Double
                var perSecond: Int
                enum CodingKeys: String, CodingKey { case confirmed, seconds, perSecond = "per_second" }
            }
            printJSON(Result(confirmed: confirmed, seconds: seconds, perSecond: Int(Double(confirmed) / seconds)))
        }
    }

    /// Rows in every table of a SQLite store (logpipe's per-tenant tables or the seed's `tenant_*`).
    struct Stored: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print how many logs a SQLite store holds.")
        @Option var sqlite: String

        func run() async throws {
            guard FileManager.default.fileExists(atPath: sqlite) else { print(0); return }
            var configuration = Configuration()
            configuration.readonly = true
            configuration.busyMode = .timeout(5)
            let queue = try DatabaseQueue(path: sqlite, configuration: configuration)
            let total = try await queue.read { db in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                return try tables.reduce(0) { sum, table in
                    sum + (try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(table)\"") ?? 0)
                }
            }
            print(total)
        }
    }

    /// Ingest → stored latency: `processed_at − received_at` over a sample of the stored logs (about 20,000 per tenant).
    struct EndToEnd: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "e2e",
            abstract: "Print p50/p99 of processed_at − received_at (ms) over a logpipe SQLite store, as JSON.")
        @Option var sqlite: String

        func run() async throws {
            var configuration = Configuration()
            configuration.readonly = true
            let queue = try DatabaseQueue(path: sqlite, configuration: configuration)
            let pairs = try await queue.read { db -> [(String, String)] in
                let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
                var pairs: [(String, String)] = []
                for table in tables {
                    // A sample spread over the run: every log's rowid modulo a stride.
                    let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(table)\"") ?? 0
                    let stride = max(1, count / 20_000)
                    let rows = try Row.fetchAll(db, sql: "SELECT received_at, processed_at FROM \"\(table)\" WHERE rowid % ? = 0", arguments: [stride])
                    pairs += rows.map { ($0[0], $0[1]) }
                }
                return pairs
            }
            var latencies = pairs.compactMap { received, processed -> Double? in
                guard let start = UnixTime(stamp: received), let end = UnixTime(stamp: processed) else { return nil }
                return Double(Int64(end.milliseconds) - Int64(start.milliseconds))
            }.sorted()
            guard !latencies.isEmpty else { printJSON(["p50_ms": nil, "p99_ms": nil] as [String: Int?]); return }
            func percentile(_ p: Double) -> Double { latencies[min(latencies.count - 1, Int(Double(latencies.count) * p))] }
            printJSON(["p50_ms": Int(percentile(0.5).rounded()), "p99_ms": Int(percentile(0.99).rounded()), "samples": latencies.count])
            latencies.removeAll()
        }
    }
}

/// One JSON line on stdout (what scripts/bench.sh reads), keys sorted.
func printJSON(_ value: some Encodable) {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    print(String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self))
}

/// The entry point. The main thread waits for the command instead of entering `dispatch_main()` (what an async
/// `main` does), as in `logpipe`: valgrind 3.19 cannot run a process whose main thread does that, and the bridge's
/// publish path is profiled under callgrind.
@main
enum Entry {
    static func main() {
        let done = DispatchSemaphore(value: 0)
        Task.detached {
            await LogPipeBench.main()
            done.signal()
        }
        done.wait()
    }
}
