import Foundation
import LogPipeCore
import Logging

extension LogPipeConfiguration {
    /// One environment variable: its name, how its text is read into the configuration, and how the
    /// configuration's value is written back as such text. The table of them, ``settings``, is the one place that
    /// names variables: reading, the list of what `<NAME>_FILE` may stand for and the docs check all come from it.
    public struct Setting: Sendable {
        public let variable: String
        let read: @Sendable (inout LogPipeConfiguration, String) throws(ConfigurationError) -> Void
        /// The value as this variable's text; nil when it is unset or has no text form of its own (the docs state
        /// such defaults in words). The docs check compares the defaults' text with docs/configuration.md and
        /// reads it back, so a documented default is the default.
        let text: @Sendable (LogPipeConfiguration) -> String?

        /// Where a setting goes in the configuration.
        typealias Path<Value> = any WritableKeyPath<LogPipeConfiguration, Value> & Sendable

        /// The text is parsed into a value, or refused with `message`.
        static func value<Value>(
            _ variable: String, _ path: Path<Value>, _ message: String,
            parse: @escaping @Sendable (String) -> Value?, text: @escaping @Sendable (Value) -> String?
        ) -> Setting {
            Setting(
                variable: variable,
                read: { configuration, raw throws(ConfigurationError) in
                    guard let value = parse(raw) else { throw ConfigurationError(variable: variable, message: message) }
                    configuration[keyPath: path] = value
                },
                text: { text($0[keyPath: path]) })
        }

        static func string(_ variable: String, _ path: Path<String>) -> Setting {
            value(variable, path, "", parse: { $0 }, text: { $0 })
        }

        /// A path or a name that may be unset.
        static func optional(_ variable: String, _ path: Path<String?>) -> Setting {
            value(variable, path, "", parse: { $0 }, text: { $0 })
        }

        static func integer(_ variable: String, _ path: Path<Int>, _ range: ClosedRange<Int>) -> Setting {
            value(
                variable, path, "must be a whole number from \(range.lowerBound) to \(range.upperBound)",
                parse: { Int($0).flatMap { range.contains($0) ? $0 : nil } }, text: { String($0) })
        }

        /// A duration given as a whole number of `unit`s (milliseconds or seconds) in `range`.
        static func whole(
            _ variable: String, _ path: Path<Duration>, _ range: ClosedRange<Int>,
            unit: Duration
        ) -> Setting {
            value(
                variable, path, "must be a whole number from \(range.lowerBound) to \(range.upperBound)",
                parse: { Int($0).flatMap { range.contains($0) ? unit * $0 : nil } }, text: { String(Int($0 / unit)) })
        }

        /// A duration given as seconds, fractions allowed, from 0.001 to 86,400.
        static func seconds(_ variable: String, _ path: Path<Duration>) -> Setting {
            value(
                variable, path, "must be seconds from 0.001 to 86400",
                parse: { text in
                    guard let seconds = Double(text), seconds.isFinite, seconds >= 0.001, seconds <= 86_400 else { return nil }
                    return .milliseconds(Int64(seconds * 1000))
                },
                text: { duration in
                    let milliseconds = DurationText.milliseconds(duration)
                    return milliseconds % 1000 == 0 ? String(milliseconds / 1000) : String(Double(milliseconds) / 1000)
                })
        }

        /// A rate or a burst: a positive number, or unset.
        static func positive(_ variable: String, _ path: Path<Double?>) -> Setting {
            value(
                variable, path, "must be a positive number", parse: { Double($0).flatMap { $0 > 0 && $0.isFinite ? $0 : nil } },
                text: { $0.map { String($0) } })
        }

        /// A comma-separated list; empty items are dropped.
        static func list(_ text: String) -> [String] {
            text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
    }

    /// Every variable logpipe reads, in the order of docs/configuration.md. Unset or empty variables keep the
    /// defaults, which are stated once, in the sections' declarations.
    public static let settings: [Setting] = [
        .string("LOGPIPE_AMQP_URL", \.amqp.url),
        .optional("LOGPIPE_AMQP_CA_FILE", \.amqp.tls.caFile),
        .optional("LOGPIPE_AMQP_CERT_FILE", \.amqp.tls.certificateFile),
        .optional("LOGPIPE_AMQP_KEY_FILE", \.amqp.tls.keyFile),
        .value("LOGPIPE_AMQP_TLS_VERIFY", \.amqp.tls.verify, "must be true or false", parse: boolean, text: { String($0) }),
        .string("LOGPIPE_NAMESPACE", \.amqp.namespace),
        .value(
            "LOGPIPE_QUEUE_TYPE", \.amqp.queueType, "must be classic or quorum", parse: { QueueType(rawValue: $0.lowercased()) },
            text: { $0.rawValue }),
        .integer("LOGPIPE_WORK_SHARDS", \.amqp.workShards, 1...256),
        .value(
            "LOGPIPE_CONSUME_SHARDS", \.amqp.consumeShards, "must be a comma-separated list of distinct shard numbers such as 0,2",
            parse: { text in
                let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
                let shards = parts.compactMap { Int($0) }
                guard !parts.isEmpty, shards.count == parts.count, Set(shards).count == shards.count else { return nil }
                return shards.sorted()
            }, text: { $0?.map(String.init).joined(separator: ",") }),
        .integer("LOGPIPE_DELIVERY_LIMIT", \.amqp.deliveryLimit, 1...10_000),
        .string("LOGPIPE_HTTP_HOST", \.http.host),
        .integer("LOGPIPE_HTTP_PORT", \.http.port, 0...65535),
        .optional("LOGPIPE_HTTP_TLS_CERT_FILE", \.http.tlsCertificateFile),
        .optional("LOGPIPE_HTTP_TLS_KEY_FILE", \.http.tlsKeyFile),
        .integer("LOGPIPE_MAX_LOG_BYTES", \.maxLogBytes, 1...(64 << 20)),
        .integer("LOGPIPE_MAX_REQUEST_BYTES", \.limits.maxRequestBytes, 1...(1 << 30)),
        .integer("LOGPIPE_MAX_BATCH_LOGS", \.limits.maxBatchLogs, 1...1_000_000),
        .integer("LOGPIPE_MAX_PENDING_CONFIRMS", \.publisher.maxPendingConfirms, 1...10_000_000),
        .integer("LOGPIPE_COALESCE_IN_FLIGHT", \.publisher.coalesceInFlight, 0...10_000),
        .integer("LOGPIPE_MAX_INFLIGHT_BYTES", \.limits.maxInFlightBytes, 1024...(1 << 30)),
        .seconds("LOGPIPE_BODY_TIMEOUT_S", \.limits.bodyTimeout),
        .integer("LOGPIPE_BODY_MIN_RATE", \.limits.bodyMinimumRate, 0...(1 << 30)),
        .integer("LOGPIPE_MAX_DECODED_BYTES", \.limits.maxDecodedBytes, 1024...(1 << 34)),
        .integer("LOGPIPE_MAX_CONNECTIONS", \.http.maxConnections, 0...1_000_000),
        .integer("LOGPIPE_MAX_CONNECTIONS_PER_CLIENT", \.http.maxConnectionsPerClient, 0...1_000_000),
        .seconds("LOGPIPE_HTTP_IDLE_TIMEOUT_S", \.http.idleTimeout),
        .integer("LOGPIPE_MAX_WORK_BACKLOG", \.limits.maxWorkBacklog, 0...100_000_000),
        .optional("LOGPIPE_API_KEYS_FILE", \.http.apiKeysFile),
        .value(
            "LOGPIPE_READ_ALLOWED_NETWORKS", \.http.readAllowedNetworks,
            "must be a comma-separated list of addresses or CIDR networks such as 10.0.0.0/8",
            parse: { text in
                let parts = Setting.list(text)
                let networks = parts.compactMap(IPNetwork.init)
                return networks.count == parts.count ? networks : nil
            }, text: { _ in nil }),
        .integer("LOGPIPE_READ_MAX_LOGS", \.limits.readMaxLogs, 1_000...1_000_000_000),
        .positive("LOGPIPE_TENANT_RATE", \.limits.rateLimits.defaults.rate),
        .positive("LOGPIPE_TENANT_BURST", \.limits.rateLimits.defaults.burst),
        .positive("LOGPIPE_TENANT_BYTES_RATE", \.limits.rateLimits.defaults.bytesRate),
        .positive("LOGPIPE_TENANT_BYTES_BURST", \.limits.rateLimits.defaults.bytesBurst),
        // Two names for one file; init(environment:) refuses both at once.
        .optional("LOGPIPE_TENANTS_FILE", \.tenantsFile),
        .optional("LOGPIPE_TENANT_LIMITS_FILE", \.tenantsFile),
        .value(
            "LOGPIPE_RETENTION", \.store.retention, "must be a duration of at least 1s such as 30d, 12h or 2w, or forever",
            parse: RetentionPolicy.parse, text: { $0.map(DurationText.format) }),
        .seconds("LOGPIPE_RETENTION_SWEEP_S", \.store.retentionSweepInterval),
        .string("LOGPIPE_OTLP_TENANT_ATTRIBUTE", \.http.otlpTenantAttribute),
        .value("LOGPIPE_SECRET_KEYS", \.secretKeys, "", parse: { Setting.list($0) }, text: { $0?.joined(separator: ",") }),
        .whole("LOGPIPE_CONFIRM_TIMEOUT_MS", \.amqp.confirmTimeout, 1...600_000, unit: .milliseconds(1)),
        .integer("LOGPIPE_AMQP_HEARTBEAT", \.amqp.heartbeatSeconds, 0...3600),
        .value(
            "LOG_LEVEL", \.logLevel, "must be one of trace, debug, info, notice, warning, error, critical",
            parse: { Logger.Level(rawValue: $0.lowercased()) }, text: { $0.rawValue }),
        .value("LOGPIPE_LOG_FORMAT", \.logFormat, "must be text or json", parse: { LogFormat(rawValue: $0.lowercased()) }, text: { $0.rawValue }),
        .value(
            "LOGPIPE_METRICS_TENANTS", \.metricsTenants, "must be a comma-separated list of at most 100 tenant ids",
            parse: { text in
                let names = Setting.list(text)
                return names.count <= 100 && names.allSatisfy({ TenantID($0) != nil }) ? Set(names) : nil
            }, text: { $0.isEmpty ? nil : $0.sorted().joined(separator: ",") }),
        .integer("LOGPIPE_WORKER_HTTP_PORT", \.workerHTTPPort, 0...65535),
        .whole("LOGPIPE_SHUTDOWN_TIMEOUT_S", \.shutdownTimeout, 1...3600, unit: .seconds(1)),
        .optional("LOGPIPE_REDACTION_RULES_FILE", \.redactionRulesFile),
        .string("LOGPIPE_SQLITE_PATH", \.store.sqlitePath),
        .integer("LOGPIPE_PREFETCH", \.worker.prefetch, 1...65535),
        .integer("LOGPIPE_BATCH_SIZE", \.worker.batchSize, 1...65535),
        .whole("LOGPIPE_FLUSH_MS", \.worker.flushInterval, 1...60_000, unit: .milliseconds(1)),
        .value(
            "PROCESSING_TIME_PER_CHAR", \.worker.processingTimePerCharacter,
            "must be seconds per character, from 0 to below 1 (e.g. 0.0001)",
            parse: { text in Double(text).flatMap { $0 >= 0 && $0 < 1 ? .nanoseconds(Int64($0 * 1e9)) : nil } },
            text: { $0 == .zero ? "0" : String($0 / .seconds(1)) }),
        .value(
            "LOGPIPE_RETRY_DELAYS", \.retryPolicy.delays, "must be a comma-separated list of durations such as 1s,10s,60s,10m",
            parse: RetryPolicy.parseDelays, text: { $0.map(DurationText.format).joined(separator: ",") }),
        .integer("LOGPIPE_MAX_ATTEMPTS", \.retryPolicy.maxAttempts, 1...100),
        .optional("LOGPIPE_MONGO_URI", \.store.mongoURI),
        .string("LOGPIPE_MONGO_DB", \.store.mongoDatabase),
        // w=0 (unacknowledged) is refused: a log is acked only once the store confirms it has it.
        .value(
            "LOGPIPE_MONGO_WRITE_CONCERN", \.store.mongoWriteConcern, "must be majority or a number of nodes (1 or more)",
            parse: { $0 == "majority" || Int($0).map({ $0 >= 1 }) == true ? $0 : nil }, text: { $0 }),
    ]

    /// Every variable the configuration reads: what `<NAME>_FILE` may stand for.
    public static let variables = Set(settings.map(\.variable))

    /// The process's configuration: ``init(environment:)`` of its environment. Every command reads its settings
    /// through this one reader (none reads an environment variable itself).
    public static func fromProcessEnvironment() throws(ConfigurationError) -> LogPipeConfiguration {
        try LogPipeConfiguration(environment: ProcessInfo.processInfo.environment)
    }

    /// Reads the variables of ``settings``; unset or empty variables keep the defaults. Each may instead be given
    /// as `<NAME>_FILE`, the path of a file holding the value (Docker and Kubernetes secrets).
    public init(environment: [String: String]) throws(ConfigurationError) {
        self.init()
        let environment = try Self.resolvingFiles(environment).filter { !$0.value.isEmpty }
        if environment["LOGPIPE_TENANTS_FILE"] != nil, environment["LOGPIPE_TENANT_LIMITS_FILE"] != nil {
            throw ConfigurationError(variable: "LOGPIPE_TENANTS_FILE", message: "and LOGPIPE_TENANT_LIMITS_FILE name the same file: set one of them")
        }
        for setting in Self.settings {
            if let text = environment[setting.variable] { try setting.read(&self, text) }
        }
        try validate()
    }

    /// The environment with every `<NAME>_FILE` of a known variable replaced by `<NAME>` = the file's content
    /// (one trailing newline trimmed). Setting both, or naming a file that cannot be read, is an error that
    /// names the variables and the path, never the content.
    static func resolvingFiles(_ environment: [String: String]) throws(ConfigurationError) -> [String: String] {
        var resolved = environment
        for (key, path) in environment where key.hasSuffix("_FILE") && !path.isEmpty {
            let name = String(key.dropLast("_FILE".count))
            guard variables.contains(name) else { continue }
            if let direct = environment[name], !direct.isEmpty {
                throw ConfigurationError(variable: key, message: "and \(name) are both set: give the value one way")
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                throw ConfigurationError(variable: key, message: "names \(path), which cannot be read")
            }
            var text = String(decoding: data, as: UTF8.self)
            if text.hasSuffix("\r\n") { text.removeLast() } else if text.hasSuffix("\n") { text.removeLast() }
            // An empty secret must not quietly mean "unset" (no API keys, the default broker, SQLite).
            guard !text.isEmpty else {
                throw ConfigurationError(variable: key, message: "names \(path), which is empty")
            }
            resolved[name] = text
            resolved[key] = nil
        }
        return resolved
    }

    @Sendable static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }
}
