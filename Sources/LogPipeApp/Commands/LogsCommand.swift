import ArgumentParser
import Foundation
import LogPipeCore

/// `logpipe logs get|tail`: read stored logs from the configured store, as JSON.
struct LogsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "logs", abstract: "Read stored logs (from SQLite or MongoDB, whichever is configured).",
        subcommands: [Get.self, Tail.self])

    struct StoreOptions: ParsableArguments {
        @Option(help: "The tenant id.")
        var tenant: String

        @Option(help: "The SQLite file (env LOGPIPE_SQLITE_PATH).")
        var sqlitePath: String?

        func open() throws -> (any LogStore, TenantID) {
            guard let tenant = TenantID(tenant) else { throw ValidationError("--tenant is not a valid tenant id") }
            var configuration = try LogPipeConfiguration(environment: ProcessInfo.processInfo.environment)
            if let sqlitePath { configuration.sqlitePath = sqlitePath }
            let runtime = Runtime(configuration: configuration, logger: LogSetup.makeLogger(label: "logpipe.logs", level: .error))
            return (try runtime.store(), tenant)
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print one stored log as JSON; exit 1 if it is not stored.")
        @OptionGroup var store: StoreOptions
        @Option(name: .customLong("log-id"), help: "The log id.")
        var logID: String

        func run() async throws {
            let (logs, tenant) = try store.open()
            guard let log = try await logs.get(tenant: tenant, logID: logID) else {
                throw CommandFailure("no log \(logID) is stored for tenant \(tenant)")
            }
            print(try LogsCommand.json(log))
        }
    }

    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the most recent stored logs of a tenant, newest first, one JSON object per line.")
        @OptionGroup var store: StoreOptions
        @Option(help: "How many logs (default 20).")
        var limit: Int = 20

        func run() async throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
            let (logs, tenant) = try store.open()
            for log in try await logs.tail(tenant: tenant, limit: limit) { print(try LogsCommand.json(log)) }
        }
    }

    static func json(_ log: StoredLog) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(log), as: UTF8.self)
    }
}
