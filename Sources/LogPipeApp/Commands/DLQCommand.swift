import AMQPBridge
import ArgumentParser
import Foundation
import LogPipeCore

/// `logpipe dlq stats|peek|replay|purge`: inspect and act on parked messages. Exit 0 on success, 1 when the
/// broker cannot be used or a replay left matching messages parked, 2 when `purge` lacks `--yes`.
struct DLQCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq", abstract: "Inspect, replay and purge the messages parked in the dead-letter queue.",
        subcommands: [Stats.self, Peek.self, Replay.self, Purge.self])

    struct Options: ParsableArguments {
        @OptionGroup var common: CommonOptions

        @Flag(help: "Print JSON for scripts instead of text.")
        var json = false

        /// Connects, runs `body` with the DLQ, and closes the connection.
        func withDLQ<T>(_ body: (DeadLetterQueue) async throws -> T) async throws -> T {
            let configuration = try common.configuration()
            let runtime = Runtime(
                configuration: configuration,
                logger: LogSetup.makeLogger(label: "logpipe.dlq", level: max(configuration.logLevel, .warning)))
            let connection = try runtime.connection("logpipe-dlq")
            connection.start()
            do {
                do {
                    try await connection.waitUntilConnected(timeout: .seconds(10))
                } catch {
                    throw CommandFailure("cannot reach the broker at \(try configuration.amqpConfiguration(connectionName: "").redactedURL): \(error)")
                }
                let result = try await body(DeadLetterQueue(connection: connection, topology: runtime.topology))
                await connection.close()
                return result
            } catch {
                await connection.close()
                throw error
            }
        }
    }

    struct FilterOptions: ParsableArguments {
        @Option(help: "Only messages of this tenant.")
        var tenant: String?

        @Option(help: "Only messages parked for this reason (e.g. undecodable, store_unavailable).")
        var reason: String?

        var filter: ParkedFilter { ParkedFilter(tenant: tenant, reason: reason) }
    }

    struct Stats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Count parked messages: total, by tenant, by reason, and the oldest age. Changes nothing.")
        @OptionGroup var options: Options

        func run() async throws {
            let stats = try await options.withDLQ { try await $0.stats() }
            if options.json {
                print(try DLQCommand.json(stats))
                return
            }
            print("parked: \(stats.total)" + (stats.oldestAgeSeconds.map { ", oldest parked \(DLQCommand.age($0)) ago" } ?? ""))
            if stats.unseen > 0 { print("not seen: \(stats.unseen) (held by another consumer of the DLQ)") }
            for (title, counts) in [("by tenant", stats.byTenant), ("by reason", stats.byReason)] where !counts.isEmpty {
                print("\n\(title):")
                // Tenants and reasons come from message headers: escaped, they cannot drive the terminal.
                let rows = counts.sorted(by: { ($0.value, $1.key) > ($1.value, $0.key) }).map { (TerminalText.escaped($0.key), $0.value) }
                let width = rows.map(\.0.count).max() ?? 0
                for (key, count) in rows {
                    print("  \(key.padding(toLength: width, withPad: " ", startingAt: 0))  \(count)")
                }
            }
        }
    }

    struct Peek: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show parked messages in queue order (the text redacted). Leaves the DLQ exactly as it was.")
        @OptionGroup var options: Options
        @OptionGroup var filter: FilterOptions
        @Option(help: "How many messages to show (default 10).")
        var limit = 10

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        }

        func run() async throws {
            let messages = try await options.withDLQ { try await $0.peek(filter.filter, limit: limit) }
            let redaction = RedactionPolicy()
            if options.json {
                for message in messages { print(try DLQCommand.json(PeekLine(message, redaction: redaction))) }
                return
            }
            if messages.isEmpty {
                print("no parked message matches")
                return
            }
            for message in messages {
                let line = PeekLine(message, redaction: redaction)
                // Every field here came from a message: escaped, none can forge a line or drive the terminal.
                func shown(_ text: String?) -> String { text.map(TerminalText.escaped) ?? "-" }
                print(
                    "#\(line.position)  log_id=\(shown(line.logID))  tenant=\(shown(line.tenant))  reason=\(shown(line.reason))  "
                        + "attempt=\(line.attempt)  parked=\(shown(line.failedAt))  bytes=\(line.bytes)")
                print("    " + (line.text.map(TerminalText.escaped) ?? "(body is not a logpipe message)"))
            }
        }
    }

    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send matching parked messages back to the ingest exchange (original routing key and log_id, attempts reset).",
            discussion:
                "Each message leaves the DLQ only after the broker confirmed its copy; the others stay parked in order. The store keeps one document per log_id, so replaying twice stores nothing twice."
        )
        @OptionGroup var options: Options
        @OptionGroup var filter: FilterOptions
        @Option(help: "Replay at most this many messages (default: all that match).")
        var limit: Int?
        @Flag(help: "Only report what would be replayed.")
        var dryRun = false

        func validate() throws {
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        }

        func run() async throws {
            let report = try await options.withDLQ {
                try await $0.replay(filter.filter, limit: limit ?? Int.max, dryRun: dryRun)
            }
            if options.json {
                print(try DLQCommand.json(ReplayLine(report, dryRun: dryRun)))
            } else if dryRun {
                print(
                    "would replay \(report.matched.count - report.notReplayable) message(s)"
                        + (report.notReplayable > 0 ? "; \(report.notReplayable) cannot be replayed (no tenant routing key)" : ""))
                for logID in report.matched { print("  \(logID.map(TerminalText.escaped) ?? "(no log_id)")") }
            } else {
                print(
                    "replayed \(report.replayed) message(s)"
                        + (report.notReplayable > 0 ? "; \(report.notReplayable) left parked (no tenant routing key)" : "")
                        + (report.failed > 0 ? "; \(report.failed) left parked (the broker did not confirm the copy)" : ""))
            }
            if report.failed > 0 { throw ExitCode.failure }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete matching parked messages for good. Refuses without --yes.")
        @OptionGroup var options: Options
        @OptionGroup var filter: FilterOptions
        @Flag(help: "Confirm the deletion.")
        var yes = false

        func run() async throws {
            guard yes else {
                FileHandle.standardError.write(
                    Data("Error: purge deletes parked logs for good; add --yes to confirm (see `logpipe dlq stats` and `peek` first)\n".utf8))
                throw ExitCode(2)
            }
            let removed = try await options.withDLQ { try await $0.purge(filter.filter) }
            if options.json {
                print(try DLQCommand.json(["purged": removed]))
            } else {
                print("purged \(removed) message(s)")
            }
        }
    }

    /// One `peek` line: the headers, and the text redacted with the built-in rules when the body decodes.
    struct PeekLine: Codable {
        var position: Int
        var logID: String?
        var tenant: String?
        var reason: String
        var attempt: Int
        var failedAt: String?
        var routingKey: String?
        var bytes: Int
        var text: String?

        init(_ message: ParkedMessage, redaction: RedactionPolicy) {
            position = message.position
            logID = message.logID
            tenant = message.tenant
            reason = message.reason
            attempt = message.attempt
            failedAt = message.failedAt
            routingKey = message.routingKey
            bytes = message.bytes
            text = (try? WorkMessage.decode(message.delivery.body)).flatMap { records in
                records.first.map { record in
                    redaction.redactor(for: record.tenantID).redact(record.text).text
                        + (records.count > 1 ? "  (+\(records.count - 1) more logs in this batch chunk)" : "")
                }
            }
        }

        enum CodingKeys: String, CodingKey {
            case position, tenant, reason, attempt, bytes, text
            case logID = "log_id"
            case failedAt = "failed_at"
            case routingKey = "routing_key"
        }
    }

    struct ReplayLine: Codable {
        var dryRun: Bool
        var matched: Int
        var replayed: Int
        var notReplayable: Int
        var failed: Int
        var logIDs: [String?]

        init(_ report: DeadLetterQueue.ReplayReport, dryRun: Bool) {
            self.dryRun = dryRun
            matched = report.matched.count
            replayed = report.replayed
            notReplayable = report.notReplayable
            failed = report.failed
            logIDs = report.matched
        }

        enum CodingKeys: String, CodingKey {
            case matched, replayed, failed
            case dryRun = "dry_run"
            case notReplayable = "not_replayable"
            case logIDs = "log_ids"
        }
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    /// `42s`, `7m`, `3h`, `2d`.
    static func age(_ seconds: Int) -> String {
        switch seconds {
        case ..<120: "\(seconds)s"
        case ..<7200: "\(seconds / 60)m"
        case ..<172_800: "\(seconds / 3600)h"
        default: "\(seconds / 86400)d"
        }
    }
}
