import AMQPBridge
import Foundation
import LogPipeCore
import Logging

/// Everything a logpipe process is configured with, in one section per component: ``amqp``, ``http``, ``limits``,
/// ``store``, and the worker's and the publisher's own configuration types. Plain values with defaults, each
/// stated once; ``init(environment:)`` reads the variables of ``settings`` (the one table of them), and
/// command-line flags are applied on top.
public struct LogPipeConfiguration: Sendable, Equatable {
    /// The broker: where it is, and the topology every process must agree on.
    public struct AMQP: Sendable, Equatable {
        /// One URL, or several comma-separated (failover in order).
        public var url = "amqp://guest:guest@127.0.0.1:5672/"
        /// Certificates and verification for `amqps://` URLs.
        public var tls = AMQPTLSOptions()
        /// Prefix of every exchange and queue name, so deployments and tests can share a broker.
        public var namespace = "logpipe"
        public var queueType = QueueType.classic
        /// Work queues behind the consistent-hash exchange (1 = the single `<ns>.work`).
        public var workShards = 1
        /// Which shards this worker consumes (nil = all).
        public var consumeShards: [Int]?
        /// Deliveries of one message before a quorum work queue parks it in the DLQ.
        public var deliveryLimit = 20
        /// How long the API waits for the broker's confirm before answering 503.
        public var confirmTimeout = AMQPConfiguration.defaultConfirmTimeout
        public var heartbeatSeconds = AMQPConfiguration.defaultHeartbeatSeconds
    }

    /// The API's listener, its connections, and who may use it.
    public struct HTTP: Sendable, Equatable {
        public var host = "0.0.0.0"
        public var port = 8000
        /// HTTPS (PEM files); nil = plain HTTP.
        public var tlsCertificateFile: String?
        public var tlsKeyFile: String?
        /// Open connections at most (0 = no cap), and per peer address; more are answered 503 and closed.
        public var maxConnections = 4096
        public var maxConnectionsPerClient = 1024
        /// A connection with no request and no byte for this long is closed.
        public var idleTimeout: Duration = .seconds(30)
        /// The tenant API keys file; nil = no authentication.
        public var apiKeysFile: String?
        /// Networks besides loopback whose clients may read without an API key, naming the tenant in
        /// `X-Scope-OrgID` (only when no keys file is set).
        public var readAllowedNetworks: [IPNetwork] = []
        /// The OTLP resource attribute that names the tenant.
        public var otlpTenantAttribute = "tenant.id"
    }

    /// What one request, one client and one tenant may take.
    public struct Limits: Sendable, Equatable {
        public var maxRequestBytes = 8 * 1024 * 1024
        public var maxBatchLogs = 10_000
        /// Ready messages in `<ns>.work` above which the API holds new logs until the workers catch up (0 = never).
        public var maxWorkBacklog = 0
        /// Request bodies the API works on at once, in bytes; further requests wait in line (bounded memory).
        public var maxInFlightBytes = 4 << 20
        /// How long a request's body may take to arrive, from its headers on; then 408.
        public var bodyTimeout: Duration = .seconds(10)
        /// Bytes per second a body must keep arriving at, over windows of 2 s (0 = none); then 408.
        public var bodyMinimumRate = 16 << 10
        /// What the decoded form of one OTLP or Loki request may take, estimated before it is decoded; then 413.
        public var maxDecodedBytes = 64 << 20
        /// The most stored logs one read request may select: a metric query counts every log it selects, a log
        /// query stops at its limit; past it the query is refused with `query_too_large`.
        public var readMaxLogs = 2_000_000
        /// Per-tenant limits: defaults from the environment, overrides from the tenants file.
        public var rateLimits = RateLimits()
    }

    /// Where logs are kept, and for how long.
    public struct Store: Sendable, Equatable {
        /// MongoDB instead of SQLite (never logged: it may hold a password).
        public var mongoURI: String?
        public var mongoDatabase = "logpipe"
        /// `majority` or a number of nodes.
        public var mongoWriteConcern = "majority"
        public var sqlitePath = "./data/logpipe.sqlite"
        /// How long stored logs are kept (nil = forever), before per-tenant overrides.
        public var retention: Duration?
        /// How often a worker on SQLite deletes expired rows.
        public var retentionSweepInterval: Duration = .seconds(60)
    }

    public var amqp = AMQP()
    public var http = HTTP()
    public var limits = Limits()
    public var store = Store()
    /// The worker, as it takes them (its defaults are these), including what it shares with the API:
    /// ``maxLogBytes`` and ``retryPolicy``.
    public var worker = LogWorker.Configuration()
    /// The API's publisher, as it takes them (its defaults are these).
    public var publisher = AMQPLogPublisher.Limits()

    /// The largest log: the API's limit, and the worker's check of it (stored once, in ``worker``).
    public var maxLogBytes: Int {
        get { worker.validation.maxLogBytes }
        set { worker.validation.maxLogBytes = newValue }
    }
    /// Retry tiers and attempts, one retry queue per tier: the worker's, and the topology's (stored once, in
    /// ``worker``).
    public var retryPolicy: RetryPolicy {
        get { worker.retryPolicy }
        set { worker.retryPolicy = newValue }
    }
    /// The tenants file: per-tenant rate limits, `retention` and `secret_keys` (``TenantSettings``).
    public var tenantsFile: String?
    /// Attribute key patterns whose values are secrets (nil = the defaults).
    public var secretKeys: [String]?
    public var redactionRulesFile: String?
    /// Tenants that get their own label in metrics; all others count as `other`.
    public var metricsTenants: Set<String> = []
    public var logLevel: Logger.Level = .info
    public var logFormat = LogFormat.text
    /// The worker's health/readiness/metrics port (`logpipe worker`; 0 = none).
    public var workerHTTPPort = 8001
    /// How long SIGTERM may take: in-flight requests, the current batch, then the connections.
    public var shutdownTimeout: Duration = .seconds(30)

    public enum LogFormat: String, Sendable, Equatable {
        case text, json
    }

    public init() {}

    /// Checks values that flags may also have set.
    public func validate() throws(ConfigurationError) {
        guard Topology.isValidNamespace(amqp.namespace) else {
            throw ConfigurationError(variable: "LOGPIPE_NAMESPACE", message: "must be 1–64 characters of a-z A-Z 0-9 _ - .")
        }
        if let consumeShards = amqp.consumeShards, let outside = consumeShards.first(where: { !(0..<amqp.workShards).contains($0) }) {
            throw ConfigurationError(
                variable: "LOGPIPE_CONSUME_SHARDS",
                message: "names shard \(outside), but LOGPIPE_WORK_SHARDS=\(amqp.workShards) has shards 0 to \(amqp.workShards - 1)")
        }
        do {
            _ = try AMQPConfiguration(url: amqp.url)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_AMQP_URL", message: "\((error as? AMQPError)?.reason ?? "is invalid")")
        }
        guard (amqp.tls.certificateFile == nil) == (amqp.tls.keyFile == nil) else {
            throw ConfigurationError(
                variable: amqp.tls.certificateFile == nil ? "LOGPIPE_AMQP_CERT_FILE" : "LOGPIPE_AMQP_KEY_FILE",
                message: "must be set too: a client certificate needs its key (LOGPIPE_AMQP_CERT_FILE and LOGPIPE_AMQP_KEY_FILE)")
        }
        for (variable, path) in [
            ("LOGPIPE_AMQP_CA_FILE", amqp.tls.caFile), ("LOGPIPE_AMQP_CERT_FILE", amqp.tls.certificateFile),
            ("LOGPIPE_AMQP_KEY_FILE", amqp.tls.keyFile), ("LOGPIPE_HTTP_TLS_CERT_FILE", http.tlsCertificateFile),
            ("LOGPIPE_HTTP_TLS_KEY_FILE", http.tlsKeyFile),
        ] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw ConfigurationError(variable: variable, message: "names \(path), which cannot be read")
            }
        }
        guard (http.tlsCertificateFile == nil) == (http.tlsKeyFile == nil) else {
            throw ConfigurationError(
                variable: http.tlsCertificateFile == nil ? "LOGPIPE_HTTP_TLS_CERT_FILE" : "LOGPIPE_HTTP_TLS_KEY_FILE",
                message: "must be set too: HTTPS needs a certificate and its key")
        }
    }

    /// The broker topology this configuration declares.
    public var topology: Topology {
        Topology(
            namespace: amqp.namespace, retryDelays: retryPolicy.delays, queueType: amqp.queueType, workShards: amqp.workShards,
            deliveryLimit: amqp.deliveryLimit)
    }

    /// The work queues this process's worker consumes.
    public var consumedQueues: [String] {
        let topology = topology
        guard let consumeShards = amqp.consumeShards, amqp.workShards > 1 else { return topology.workQueues }
        return consumeShards.map { topology.workQueue(shard: $0) }
    }

    /// Which store is configured, for log lines (never the URI: it may hold a password).
    public var storeDescription: String {
        store.mongoURI == nil ? "sqlite \(store.sqlitePath)" : "mongodb database \(store.mongoDatabase)"
    }

    /// The broker connection settings derived from this configuration.
    public func amqpConfiguration(connectionName: String) throws -> AMQPConfiguration {
        var configuration = try AMQPConfiguration(url: amqp.url)
        configuration.confirmTimeout = amqp.confirmTimeout
        configuration.heartbeatSeconds = amqp.heartbeatSeconds
        configuration.connectionName = connectionName
        configuration.tls = amqp.tls
        return configuration
    }
}

/// A configuration value that cannot be used; names the variable (or flag), never a secret's value.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var variable: String
    public var message: String
    public var description: String { "\(variable) \(message)" }
}
