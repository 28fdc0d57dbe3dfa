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
            var configuration = try LogPipeConfiguration.fromProcessEnvironment()
            if let sqlitePath { configuration.store.sqlitePath = sqlitePath }
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
        static let configuration = CommandConfiguration(
            abstract: "Print the most recently received logs of a tenant, one JSON object per line.",
            discussion: """
                Newest first. With --follow, the last --limit logs are printed oldest first and then every log \
                stored from then on, as it arrives, until interrupted (Ctrl-C). Logs are ordered by received_at \
                (when the API accepted them); --follow also prints a log stored up to --lookback after an \
                already printed, later-received one (a log delayed longer, such as one that waited in a retry \
                tier, is stored all the same: `logs get` and `logs tail` show it).
                """)
        @OptionGroup var store: StoreOptions
        @Option(help: "How many logs (default 20).")
        var limit: Int = 20
        @Option(help: "Only logs received since then: a duration back from now (10m, 2h, 7d) or an RFC 3339 time.")
        var since: String?
        @Option(help: "Only logs with exactly this level.")
        var level: String?
        @Option(help: "Only logs whose (redacted) text contains this string (case-sensitive).")
        var grep: String?
        @Flag(help: "Keep printing logs as they are stored.")
        var follow = false
        @Option(help: "With --follow: how often to look for new logs, in seconds (default 1).")
        var interval: Double = 1
        @Option(help: "With --follow: how late a log may be stored after later-received ones and still be printed (default 5s).")
        var lookback: String = "5s"

        func validate() throws {
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
            guard interval >= 0.05, interval <= 3600 else { throw ValidationError("--interval must be seconds from 0.05 to 3600") }
            guard DurationText.parse(lookback) != nil else { throw ValidationError("--lookback must be a duration such as 5s or 1m") }
            if let since { _ = try Self.parseSince(since, now: .now) }
        }

        /// `--since`: a duration back from `now`, or an RFC 3339 time.
        static func parseSince(_ text: String, now: UnixTime) throws -> UnixTime {
            if let duration = DurationText.parse(text) {
                let back = UInt64(DurationText.milliseconds(duration))
                return UnixTime(milliseconds: now.milliseconds - min(now.milliseconds, back))
            }
            if let time = UnixTime(rfc3339: text) { return time }
            throw ValidationError("--since must be a duration such as 10m, 2h or 7d, or an RFC 3339 time such as 2026-12-01T10:00:00Z")
        }

        func run() async throws {
            let (logs, tenant) = try store.open()
            let query = LogQuery(since: try since.map { try Self.parseSince($0, now: .now) }, level: level, contains: grep, limit: limit)
            guard follow else {
                for log in try await logs.find(tenant: tenant, query) { print(try LogsCommand.json(log)) }
                return
            }
            var follower = LogFollower(query: query, lookback: DurationText.parse(lookback)!)
            let sleep = Duration.milliseconds(Int64(interval * 1000))
            for log in try await follower.start(logs, tenant: tenant) { print(try LogsCommand.json(log)) }
            fflush(nil)
            while !Task.isCancelled {
                try await Task.sleep(for: sleep)
                let new = try await follower.poll(logs, tenant: tenant)
                for log in new { print(try LogsCommand.json(log)) }
                if !new.isEmpty { fflush(nil) }
            }
        }
    }

    static func json(_ log: StoredLog) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(log), as: UTF8.self)
    }
}

/// What `logs tail --follow` reads: pages forward by `received_at`, and remembers the ids it printed within the
/// lookback window so that a log is printed once even though each poll reads the window again.
struct LogFollower {
    var query: LogQuery
    let lookback: UInt64
    /// The lower bound of the next read.
    private(set) var cursor: UInt64 = 0
    /// Printed ids with their `received_at`, within `lookback` of the newest printed.
    private var printed: [String: UInt64] = [:]
    static let pageSize = 1000

    init(query: LogQuery, lookback: Duration) {
        self.query = query
        self.lookback = UInt64(DurationText.milliseconds(lookback))
    }

    /// The last `query.limit` matching logs, oldest first, then any stored meanwhile. The older logs of the
    /// lookback window count as printed: polls print only what is stored from now on.
    mutating func start(_ store: any LogStore, tenant: TenantID) async throws -> [StoredLog] {
        let newest = try await store.find(tenant: tenant, query)
        cursor = query.since?.milliseconds ?? 0
        let logs = Array(newest.reversed())
        remember(logs)
        guard let shown = logs.last.map(Self.milliseconds) else { return logs }
        // Logs of the window received up to the newest shown are not news; later ones arrived since the first read.
        let window = try await read(store, tenant: tenant)
        remember(window.filter { Self.milliseconds($0) <= shown })
        let arrived = window.filter { Self.milliseconds($0) > shown }
        remember(arrived)
        return logs + arrived
    }

    /// Matching logs not printed yet, received at or after the cursor minus the lookback, oldest first.
    mutating func poll(_ store: any LogStore, tenant: TenantID) async throws -> [StoredLog] {
        let new = try await read(store, tenant: tenant)
        remember(new)
        return new
    }

    /// Every matching log from the cursor on that is not printed yet, oldest first. Pages move on by
    /// `received_at`; a page full of one millisecond (a batch shares its receive time) is read again larger,
    /// so no number of logs in one millisecond stops the follower.
    private mutating func read(_ store: any LogStore, tenant: TenantID) async throws -> [StoredLog] {
        var new: [StoredLog] = []
        var seen = Set<String>()
        var from = cursor
        var size = Self.pageSize
        while true {
            var page = query
            page.since = UnixTime(milliseconds: from)
            page.limit = size
            page.oldestFirst = true
            let logs = try await store.find(tenant: tenant, page)
            for log in logs where printed[log.logID] == nil && seen.insert(log.logID).inserted { new.append(log) }
            guard logs.count == size, let last = logs.last.map(Self.milliseconds) else { break }
            if last > from {
                from = last
                size = Self.pageSize
            } else {
                size *= 2
            }
        }
        return new
    }

    private mutating func remember(_ logs: [StoredLog]) {
        for log in logs { printed[log.logID] = Self.milliseconds(log) }
        guard let newest = printed.values.max() else { return }
        let floor = newest - min(newest, lookback)
        cursor = max(cursor, floor)
        printed = printed.filter { $0.value >= floor }
    }

    static func milliseconds(_ log: StoredLog) -> UInt64 {
        UnixTime(stamp: log.receivedAt)?.milliseconds ?? 0
    }
}
