import AMQPBridge
import Foundation
import LogPipeCore
import Logging

/// Everything a logpipe process is configured with. Plain values with defaults; ``init(environment:)``
/// is the one place that reads environment variables, and command-line flags are applied on top.
public struct LogPipeConfiguration: Sendable, Equatable {
    public var amqpURL = "amqp://guest:guest@127.0.0.1:5672/"
    /// Certificates and verification for `amqps://` URLs (`LOGPIPE_AMQP_CA_FILE`, `…_CERT_FILE`, `…_KEY_FILE`,
    /// `LOGPIPE_AMQP_TLS_VERIFY`).
    public var amqpTLS = AMQPTLSOptions()
    /// Prefix of every exchange and queue name, so deployments and tests can share a broker.
    public var namespace = "logpipe"
    /// `classic` (default) or `quorum` queues (`LOGPIPE_QUEUE_TYPE`).
    public var queueType = QueueType.classic
    /// Work queues behind the consistent-hash exchange (`LOGPIPE_WORK_SHARDS`; 1 = the single `<ns>.work`).
    public var workShards = 1
    /// Which shards this worker consumes (`LOGPIPE_CONSUME_SHARDS`, e.g. `0,2`; nil = all).
    public var consumeShards: [Int]?
    /// Deliveries of one message before a quorum work queue parks it in the DLQ (`LOGPIPE_DELIVERY_LIMIT`).
    public var deliveryLimit = 20
    public var httpHost = "0.0.0.0"
    public var httpPort = 8000
    public var maxLogBytes = 256 * 1024
    public var maxRequestBytes = 8 * 1024 * 1024
    public var maxBatchLogs = 10_000
    /// Ready messages in `<ns>.work` above which the API holds new logs until the workers catch up (0 = never).
    public var maxWorkBacklog = 0
    /// Request bodies the API works on at once, in bytes; further requests wait in line (bounded memory).
    public var maxInFlightBytes = 4 << 20
    /// How long a request's body may take to arrive, from its headers on (`LOGPIPE_BODY_TIMEOUT_S`); then 408.
    public var bodyTimeout: Duration = .seconds(10)
    /// Bytes per second a body must keep arriving at, over windows of 2 s (`LOGPIPE_BODY_MIN_RATE`; 0 = none);
    /// then 408.
    public var bodyMinimumRate = 16 << 10
    /// What the decoded form of one OTLP or Loki request may take, estimated before it is decoded
    /// (`LOGPIPE_MAX_DECODED_BYTES`); then 413.
    public var maxDecodedBytes = 64 << 20
    /// Open HTTP connections at most (`LOGPIPE_MAX_CONNECTIONS`; 0 = no cap), and per peer address
    /// (`LOGPIPE_MAX_CONNECTIONS_PER_CLIENT`); more are answered 503 `too_many_connections` and closed.
    public var maxConnections = 4096
    public var maxConnectionsPerClient = 1024
    /// An HTTP connection with no request and no byte for this long is closed (`LOGPIPE_HTTP_IDLE_TIMEOUT_S`).
    public var httpIdleTimeout: Duration = .seconds(30)
    /// Messages awaiting a broker confirm at most, across requests; past it the API answers 503.
    public var maxPendingConfirms = 20_000
    /// Messages of a tenant awaiting a confirm before its further logs are grouped into one chunk
    /// (`LOGPIPE_COALESCE_IN_FLIGHT`; 0 = no grouping: each single log and each batch chunk is its own message).
    public var coalesceInFlight = 1
    /// The tenant API keys file; unset = no authentication.
    public var apiKeysFile: String?
    /// Per-tenant limits: defaults from the environment, overrides from `tenantLimitsFile`.
    public var rateLimits = RateLimits()
    /// The tenants file (`LOGPIPE_TENANTS_FILE`, or its first name `LOGPIPE_TENANT_LIMITS_FILE`): per-tenant
    /// rate limits, `retention` and `secret_keys` (``TenantSettings``).
    public var tenantLimitsFile: String?
    /// How long stored logs are kept (`LOGPIPE_RETENTION`, e.g. `30d`; nil = forever), before per-tenant overrides.
    public var retention: Duration?
    /// How often a worker on SQLite deletes expired rows (`LOGPIPE_RETENTION_SWEEP_S`).
    public var retentionSweepInterval: Duration = .seconds(60)
    /// The OTLP resource attribute that names the tenant (`LOGPIPE_OTLP_TENANT_ATTRIBUTE`).
    public var otlpTenantAttribute = "tenant.id"
    /// Attribute key patterns whose values are secrets (`LOGPIPE_SECRET_KEYS`, comma-separated; nil = the defaults).
    public var secretKeys: [String]?
    /// How long the API waits for the broker's confirm before answering 503.
    public var confirmTimeout: Duration = .seconds(5)
    public var heartbeatSeconds = 10
    public var mongoURI: String?
    public var mongoDatabase = "logpipe"
    /// `majority` (default) or a number of nodes.
    public var mongoWriteConcern = "majority"
    public var sqlitePath = "./data/logpipe.sqlite"
    public var prefetch = 250
    public var batchSize = 2_000
    public var flushInterval: Duration = .milliseconds(50)
    /// The seed design's simulated work per character (`PROCESSING_TIME_PER_CHAR`, seconds).
    public var processingTimePerCharacter: Duration = .zero
    public var redactionRulesFile: String?
    /// Retry tiers and attempts (`LOGPIPE_RETRY_DELAYS`, `LOGPIPE_MAX_ATTEMPTS`): one retry queue per tier.
    public var retryPolicy = RetryPolicy()
    public var logLevel: Logger.Level = .info
    /// `text` (default) or `json` (one JSON object per line).
    public var logFormat = LogFormat.text
    /// Tenants that get their own label in metrics; all others count as `other`.
    public var metricsTenants: Set<String> = []
    /// HTTPS for the API (`LOGPIPE_HTTP_TLS_CERT_FILE`, `LOGPIPE_HTTP_TLS_KEY_FILE`: PEM); nil = plain HTTP.
    public var httpTLSCertificateFile: String?
    public var httpTLSKeyFile: String?
    /// Networks besides loopback whose clients may read without an API key, naming the tenant in `X-Scope-OrgID`
    /// (`LOGPIPE_READ_ALLOWED_NETWORKS`; only when no keys file is set).
    public var readAllowedNetworks: [IPNetwork] = []
    /// The most stored logs one read request may select (`LOGPIPE_READ_MAX_LOGS`): a metric query counts every log
    /// it selects, a log query stops at its limit; past it the query is refused with `query_too_large`.
    public var readMaxLogs = 2_000_000
    /// The worker's health/readiness/metrics port (`logpipe worker`; 0 = none).
    public var workerHTTPPort = 8001
    /// How long SIGTERM may take: in-flight requests, the current batch, then the connections.
    public var shutdownTimeout: Duration = .seconds(30)

    public enum LogFormat: String, Sendable, Equatable {
        case text, json
    }

    public init() {}

    /// Reads the `LOGPIPE_*` variables (and `LOG_LEVEL`); unset or empty variables keep the defaults. Each may
    /// instead be given as `<NAME>_FILE`, the path of a file holding the value (Docker and Kubernetes secrets).
    public init(environment: [String: String]) throws(ConfigurationError) {
        self.init()
        let environment = try Self.resolvingFiles(environment)
        func value(_ name: String) -> String? {
            guard let value = environment[name], !value.isEmpty else { return nil }
            return value
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(ConfigurationError) -> Int? {
            guard let text = value(name) else { return nil }
            guard let number = Int(text), range.contains(number) else {
                throw ConfigurationError(variable: name, message: "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        if let url = value("LOGPIPE_AMQP_URL") { amqpURL = url }
        amqpTLS.caFile = value("LOGPIPE_AMQP_CA_FILE")
        amqpTLS.certificateFile = value("LOGPIPE_AMQP_CERT_FILE")
        amqpTLS.keyFile = value("LOGPIPE_AMQP_KEY_FILE")
        if let text = value("LOGPIPE_AMQP_TLS_VERIFY") {
            guard let verify = Self.boolean(text) else {
                throw ConfigurationError(variable: "LOGPIPE_AMQP_TLS_VERIFY", message: "must be true or false")
            }
            amqpTLS.verify = verify
        }
        if let namespace = value("LOGPIPE_NAMESPACE") { self.namespace = namespace }
        if let text = value("LOGPIPE_QUEUE_TYPE") {
            guard let type = QueueType(rawValue: text.lowercased()) else {
                throw ConfigurationError(variable: "LOGPIPE_QUEUE_TYPE", message: "must be classic or quorum")
            }
            queueType = type
        }
        if let shards = try integer("LOGPIPE_WORK_SHARDS", 1...256) { workShards = shards }
        if let limit = try integer("LOGPIPE_DELIVERY_LIMIT", 1...10_000) { deliveryLimit = limit }
        if let text = value("LOGPIPE_CONSUME_SHARDS") {
            let parts = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            let shards = parts.compactMap { Int($0) }
            guard !parts.isEmpty, shards.count == parts.count, Set(shards).count == shards.count else {
                throw ConfigurationError(variable: "LOGPIPE_CONSUME_SHARDS", message: "must be a comma-separated list of distinct shard numbers such as 0,2")
            }
            consumeShards = shards.sorted()
        }
        if let host = value("LOGPIPE_HTTP_HOST") { httpHost = host }
        httpTLSCertificateFile = value("LOGPIPE_HTTP_TLS_CERT_FILE")
        httpTLSKeyFile = value("LOGPIPE_HTTP_TLS_KEY_FILE")
        if let port = try integer("LOGPIPE_HTTP_PORT", 0...65535) { httpPort = port }
        if let bytes = try integer("LOGPIPE_MAX_LOG_BYTES", 1...(64 << 20)) { maxLogBytes = bytes }
        if let bytes = try integer("LOGPIPE_MAX_REQUEST_BYTES", 1...(1 << 30)) { maxRequestBytes = bytes }
        if let count = try integer("LOGPIPE_MAX_BATCH_LOGS", 1...1_000_000) { maxBatchLogs = count }
        if let count = try integer("LOGPIPE_MAX_WORK_BACKLOG", 0...100_000_000) { maxWorkBacklog = count }
        if let bytes = try integer("LOGPIPE_MAX_INFLIGHT_BYTES", 1024...(1 << 30)) { maxInFlightBytes = bytes }
        if let rate = try integer("LOGPIPE_BODY_MIN_RATE", 0...(1 << 30)) { bodyMinimumRate = rate }
        if let bytes = try integer("LOGPIPE_MAX_DECODED_BYTES", 1024...(1 << 34)) { maxDecodedBytes = bytes }
        if let count = try integer("LOGPIPE_MAX_CONNECTIONS", 0...1_000_000) { maxConnections = count }
        if let count = try integer("LOGPIPE_MAX_CONNECTIONS_PER_CLIENT", 0...1_000_000) { maxConnectionsPerClient = count }
        if let count = try integer("LOGPIPE_MAX_PENDING_CONFIRMS", 1...10_000_000) { maxPendingConfirms = count }
        if let count = try integer("LOGPIPE_COALESCE_IN_FLIGHT", 0...10_000) { coalesceInFlight = count }
        apiKeysFile = value("LOGPIPE_API_KEYS_FILE")
        if value("LOGPIPE_TENANTS_FILE") != nil, value("LOGPIPE_TENANT_LIMITS_FILE") != nil {
            throw ConfigurationError(variable: "LOGPIPE_TENANTS_FILE", message: "and LOGPIPE_TENANT_LIMITS_FILE name the same file: set one of them")
        }
        tenantLimitsFile = value("LOGPIPE_TENANTS_FILE") ?? value("LOGPIPE_TENANT_LIMITS_FILE")
        if let text = value("LOGPIPE_RETENTION") {
            guard let period = RetentionPolicy.parse(text) else {
                throw ConfigurationError(variable: "LOGPIPE_RETENTION", message: "must be a duration of at least 1s such as 30d, 12h or 2w, or forever")
            }
            retention = period
        }
        if let name = value("LOGPIPE_OTLP_TENANT_ATTRIBUTE") { otlpTenantAttribute = name }
        if let text = value("LOGPIPE_SECRET_KEYS") {
            secretKeys = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        func positive(_ name: String) throws(ConfigurationError) -> Double? {
            guard let text = value(name) else { return nil }
            guard let number = Double(text), number > 0, number.isFinite else {
                throw ConfigurationError(variable: name, message: "must be a positive number")
            }
            return number
        }
        rateLimits.defaults = RateLimits.Limit(
            rate: try positive("LOGPIPE_TENANT_RATE"), burst: try positive("LOGPIPE_TENANT_BURST"),
            bytesRate: try positive("LOGPIPE_TENANT_BYTES_RATE"), bytesBurst: try positive("LOGPIPE_TENANT_BYTES_BURST"))
        if let millis = try integer("LOGPIPE_CONFIRM_TIMEOUT_MS", 1...600_000) { confirmTimeout = .milliseconds(millis) }
        if let seconds = try integer("LOGPIPE_AMQP_HEARTBEAT", 0...3600) { heartbeatSeconds = seconds }
        if let prefetch = try integer("LOGPIPE_PREFETCH", 1...65535) { self.prefetch = prefetch }
        if let size = try integer("LOGPIPE_BATCH_SIZE", 1...65535) { batchSize = size }
        if let millis = try integer("LOGPIPE_FLUSH_MS", 1...60_000) { flushInterval = .milliseconds(millis) }
        if let text = value("PROCESSING_TIME_PER_CHAR") {
            guard let seconds = Double(text), seconds >= 0, seconds < 1 else {
                throw ConfigurationError(variable: "PROCESSING_TIME_PER_CHAR", message: "must be seconds per character, from 0 to below 1 (e.g. 0.0001)")
            }
            processingTimePerCharacter = .nanoseconds(Int64(seconds * 1e9))
        }
        redactionRulesFile = value("LOGPIPE_REDACTION_RULES_FILE")
        if let text = value("LOGPIPE_RETRY_DELAYS") {
            guard let delays = RetryPolicy.parseDelays(text) else {
                throw ConfigurationError(variable: "LOGPIPE_RETRY_DELAYS", message: "must be a comma-separated list of durations such as 1s,10s,60s,10m")
            }
            retryPolicy.delays = delays
        }
        if let attempts = try integer("LOGPIPE_MAX_ATTEMPTS", 1...100) { retryPolicy.maxAttempts = attempts }
        mongoURI = value("LOGPIPE_MONGO_URI")
        if let database = value("LOGPIPE_MONGO_DB") { mongoDatabase = database }
        if let concern = value("LOGPIPE_MONGO_WRITE_CONCERN") {
            // w=0 (unacknowledged) is refused: a log is acked only once the store confirms it has it.
            guard concern == "majority" || Int(concern).map({ $0 >= 1 }) == true else {
                throw ConfigurationError(variable: "LOGPIPE_MONGO_WRITE_CONCERN", message: "must be majority or a number of nodes (1 or more)")
            }
            mongoWriteConcern = concern
        }
        if let path = value("LOGPIPE_SQLITE_PATH") { sqlitePath = path }
        if let format = value("LOGPIPE_LOG_FORMAT") {
            guard let parsed = LogFormat(rawValue: format.lowercased()) else {
                throw ConfigurationError(variable: "LOGPIPE_LOG_FORMAT", message: "must be text or json")
            }
            logFormat = parsed
        }
        if let tenants = value("LOGPIPE_METRICS_TENANTS") {
            let names = tenants.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard names.count <= 100, names.allSatisfy({ TenantID($0) != nil }) else {
                throw ConfigurationError(variable: "LOGPIPE_METRICS_TENANTS", message: "must be a comma-separated list of at most 100 tenant ids")
            }
            metricsTenants = Set(names)
        }
        if let text = value("LOGPIPE_READ_ALLOWED_NETWORKS") {
            let parts = text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            let networks = parts.compactMap(IPNetwork.init)
            guard networks.count == parts.count else {
                throw ConfigurationError(
                    variable: "LOGPIPE_READ_ALLOWED_NETWORKS", message: "must be a comma-separated list of addresses or CIDR networks such as 10.0.0.0/8")
            }
            readAllowedNetworks = networks
        }
        if let count = try integer("LOGPIPE_READ_MAX_LOGS", 1_000...1_000_000_000) { readMaxLogs = count }
        if let port = try integer("LOGPIPE_WORKER_HTTP_PORT", 0...65535) { workerHTTPPort = port }
        if let seconds = try integer("LOGPIPE_SHUTDOWN_TIMEOUT_S", 1...3600) { shutdownTimeout = .seconds(seconds) }
        func seconds(_ name: String) throws(ConfigurationError) -> Duration? {
            guard let seconds = try positive(name) else { return nil }
            guard seconds >= 0.001, seconds <= 86_400 else {
                throw ConfigurationError(variable: name, message: "must be seconds from 0.001 to 86400")
            }
            return .milliseconds(Int64(seconds * 1000))
        }
        if let timeout = try seconds("LOGPIPE_BODY_TIMEOUT_S") { bodyTimeout = timeout }
        if let timeout = try seconds("LOGPIPE_HTTP_IDLE_TIMEOUT_S") { httpIdleTimeout = timeout }
        if let interval = try seconds("LOGPIPE_RETENTION_SWEEP_S") { retentionSweepInterval = interval }
        if let level = value("LOG_LEVEL") {
            guard let parsed = Logger.Level(rawValue: level.lowercased()) else {
                throw ConfigurationError(variable: "LOG_LEVEL", message: "must be one of trace, debug, info, notice, warning, error, critical")
            }
            logLevel = parsed
        }
        try validate()
    }

    /// Every variable the configuration reads: what `<NAME>_FILE` may stand for (ConfigurationTests checks the
    /// list against the names read above; docs/configuration.md is checked against them too).
    public static let variables: Set<String> = [
        "LOGPIPE_AMQP_URL", "LOGPIPE_AMQP_CA_FILE", "LOGPIPE_AMQP_CERT_FILE", "LOGPIPE_AMQP_KEY_FILE", "LOGPIPE_AMQP_TLS_VERIFY",
        "LOGPIPE_NAMESPACE", "LOGPIPE_QUEUE_TYPE", "LOGPIPE_WORK_SHARDS", "LOGPIPE_DELIVERY_LIMIT", "LOGPIPE_CONSUME_SHARDS",
        "LOGPIPE_HTTP_HOST", "LOGPIPE_HTTP_PORT", "LOGPIPE_MAX_LOG_BYTES", "LOGPIPE_MAX_REQUEST_BYTES", "LOGPIPE_MAX_BATCH_LOGS",
        "LOGPIPE_MAX_WORK_BACKLOG", "LOGPIPE_MAX_INFLIGHT_BYTES", "LOGPIPE_BODY_MIN_RATE", "LOGPIPE_MAX_DECODED_BYTES",
        "LOGPIPE_MAX_CONNECTIONS", "LOGPIPE_MAX_CONNECTIONS_PER_CLIENT", "LOGPIPE_MAX_PENDING_CONFIRMS", "LOGPIPE_COALESCE_IN_FLIGHT",
        "LOGPIPE_API_KEYS_FILE", "LOGPIPE_TENANTS_FILE", "LOGPIPE_TENANT_LIMITS_FILE", "LOGPIPE_RETENTION",
        "LOGPIPE_OTLP_TENANT_ATTRIBUTE", "LOGPIPE_SECRET_KEYS", "LOGPIPE_TENANT_RATE", "LOGPIPE_TENANT_BURST",
        "LOGPIPE_TENANT_BYTES_RATE", "LOGPIPE_TENANT_BYTES_BURST", "LOGPIPE_CONFIRM_TIMEOUT_MS", "LOGPIPE_AMQP_HEARTBEAT",
        "LOGPIPE_PREFETCH", "LOGPIPE_BATCH_SIZE", "LOGPIPE_FLUSH_MS", "PROCESSING_TIME_PER_CHAR", "LOGPIPE_REDACTION_RULES_FILE",
        "LOGPIPE_RETRY_DELAYS", "LOGPIPE_MAX_ATTEMPTS", "LOGPIPE_MONGO_URI", "LOGPIPE_MONGO_DB", "LOGPIPE_MONGO_WRITE_CONCERN",
        "LOGPIPE_SQLITE_PATH", "LOGPIPE_LOG_FORMAT", "LOGPIPE_METRICS_TENANTS", "LOGPIPE_WORKER_HTTP_PORT",
        "LOGPIPE_SHUTDOWN_TIMEOUT_S", "LOGPIPE_BODY_TIMEOUT_S", "LOGPIPE_HTTP_IDLE_TIMEOUT_S", "LOGPIPE_RETENTION_SWEEP_S",
        "LOGPIPE_HTTP_TLS_CERT_FILE", "LOGPIPE_HTTP_TLS_KEY_FILE", "LOG_LEVEL", "LOGPIPE_READ_ALLOWED_NETWORKS",
        "LOGPIPE_READ_MAX_LOGS",
    ]

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

    static func boolean(_ text: String) -> Bool? {
        switch text.lowercased() {
        case "true", "1", "yes", "on": true
        case "false", "0", "no", "off": false
        default: nil
        }
    }

    /// Checks values that flags may also have set.
    public func validate() throws(ConfigurationError) {
        guard Topology.isValidNamespace(namespace) else {
            throw ConfigurationError(variable: "LOGPIPE_NAMESPACE", message: "must be 1–64 characters of a-z A-Z 0-9 _ - .")
        }
        if let consumeShards, let outside = consumeShards.first(where: { !(0..<workShards).contains($0) }) {
            throw ConfigurationError(
                variable: "LOGPIPE_CONSUME_SHARDS",
                message: "names shard \(outside), but LOGPIPE_WORK_SHARDS=\(workShards) has shards 0 to \(workShards - 1)")
        }
        do {
            _ = try AMQPConfiguration(url: amqpURL)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_AMQP_URL", message: "\((error as? AMQPError)?.reason ?? "is invalid")")
        }
        guard (amqpTLS.certificateFile == nil) == (amqpTLS.keyFile == nil) else {
            throw ConfigurationError(
                variable: amqpTLS.certificateFile == nil ? "LOGPIPE_AMQP_CERT_FILE" : "LOGPIPE_AMQP_KEY_FILE",
                message: "must be set too: a client certificate needs its key (LOGPIPE_AMQP_CERT_FILE and LOGPIPE_AMQP_KEY_FILE)")
        }
        for (variable, path) in [
            ("LOGPIPE_AMQP_CA_FILE", amqpTLS.caFile), ("LOGPIPE_AMQP_CERT_FILE", amqpTLS.certificateFile),
            ("LOGPIPE_AMQP_KEY_FILE", amqpTLS.keyFile), ("LOGPIPE_HTTP_TLS_CERT_FILE", httpTLSCertificateFile),
            ("LOGPIPE_HTTP_TLS_KEY_FILE", httpTLSKeyFile),
        ] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw ConfigurationError(variable: variable, message: "names \(path), which cannot be read")
            }
        }
        guard (httpTLSCertificateFile == nil) == (httpTLSKeyFile == nil) else {
            throw ConfigurationError(
                variable: httpTLSCertificateFile == nil ? "LOGPIPE_HTTP_TLS_CERT_FILE" : "LOGPIPE_HTTP_TLS_KEY_FILE",
                message: "must be set too: HTTPS needs a certificate and its key")
        }
    }

    /// The broker topology this configuration declares.
    public var topology: Topology {
        Topology(
            namespace: namespace, retryDelays: retryPolicy.delays, queueType: queueType, workShards: workShards,
            deliveryLimit: deliveryLimit)
    }

    /// The work queues this process's worker consumes.
    public var consumedQueues: [String] {
        let topology = topology
        guard let consumeShards, workShards > 1 else { return topology.workQueues }
        return consumeShards.map { topology.workQueue(shard: $0) }
    }

    /// Which store is configured, for log lines (never the URI: it may hold a password).
    public var storeDescription: String {
        mongoURI == nil ? "sqlite \(sqlitePath)" : "mongodb database \(mongoDatabase)"
    }

    /// The worker settings derived from this configuration.
    public var workerConfiguration: LogWorker.Configuration {
        var worker = LogWorker.Configuration()
        worker.prefetch = prefetch
        worker.batchSize = batchSize
        worker.flushInterval = flushInterval
        worker.processingTimePerCharacter = processingTimePerCharacter
        worker.validation = WorkValidation(maxLogBytes: maxLogBytes)
        worker.retryPolicy = retryPolicy
        return worker
    }

    /// The broker connection settings derived from this configuration.
    public func amqpConfiguration(connectionName: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: amqpURL)
        configuration.confirmTimeout = confirmTimeout
        configuration.heartbeatSeconds = heartbeatSeconds
        configuration.connectionName = connectionName
        configuration.tls = amqpTLS
        return configuration
    }
}

/// A configuration value that cannot be used; names the variable (or flag), never a secret's value.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public var description: String { "\(variable) \(message)" }
}
