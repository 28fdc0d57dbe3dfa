import AMQPBridge
import Foundation
import Hummingbird
import LogPipeCore
import Logging
import ServiceLifecycle
import UnixSignals

/// Builds the long-running pieces a command runs, from one configuration.
struct Runtime {
    let configuration: LogPipeConfiguration
    let logger: Logger
    /// The process's metrics (one registry, served at `/metrics`).
    let metrics: LogPipeMetrics

    /// The configuration with its process-wide logger (bootstrapped once, at the configured level and format).
    init(configuration: LogPipeConfiguration, label: String) {
        self.init(
            configuration: configuration,
            logger: LogSetup.makeLogger(label: label, level: configuration.logLevel, format: configuration.logFormat))
    }

    init(configuration: LogPipeConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
        self.metrics = LogPipeMetrics(labelledTenants: configuration.metricsTenants)
    }

    /// Runs the services until SIGTERM or SIGINT; they start in order and stop in reverse, within
    /// `LOGPIPE_SHUTDOWN_TIMEOUT_S` (then whatever is left is cancelled: unacked messages return to the queue).
    func run(_ services: [any Service]) async throws {
        var group = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = configuration.shutdownTimeout
        try await ServiceGroup(configuration: group).run()
    }

    var topology: Topology { configuration.topology }

    /// A broker connection that declares the topology after every connect; `/metrics` says which node it is on.
    func connection(_ name: String) throws -> AMQPConnection {
        let amqp = try configuration.amqpConfiguration(connectionName: name)
        let connection = AMQPConnection(configuration: amqp, topology: topology.declarations, logger: logger)
        metrics.watch(connection)
        return connection
    }

    /// The configured store: MongoDB when `LOGPIPE_MONGO_URI` is set, else the embedded SQLite file.
    func store() throws -> any LogStore {
        do {
            if let uri = configuration.mongoURI {
                return try MongoLogStore(
                    uri: uri, database: configuration.mongoDatabase, writeConcern: configuration.mongoWriteConcern,
                    retention: try retention())
            }
            return try SQLiteLogStore(path: configuration.sqlitePath)
        } catch let error as CommandFailure {
            throw error
        } catch {
            throw CommandFailure("\(error)")
        }
    }

    /// The read side of the configured store, for the Loki read API: a connection pool (MongoDB) or a read-only
    /// connection (SQLite) of its own.
    func reader() throws -> any LogReader {
        do {
            if let uri = configuration.mongoURI { return try MongoLogReader(uri: uri, database: configuration.mongoDatabase) }
        } catch {
            throw CommandFailure("\(error)")
        }
        return SQLiteLogReader(path: configuration.sqlitePath)
    }

    /// The tenants file's contents, once per call (an unreadable or invalid file is a start-up error).
    func tenantsFile() throws -> Data? {
        guard let path = configuration.tenantLimitsFile else { return nil }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure("LOGPIPE_TENANTS_FILE cannot read \(path)")
        }
        return data
    }

    func tenantSettings() throws -> TenantSettings {
        try tenantsFile().map { data throws(ConfigurationError) in try TenantSettings.parse(data) } ?? TenantSettings()
    }

    func retention() throws -> RetentionPolicy {
        RetentionPolicy(period: configuration.retention, overrides: try tenantSettings().retention)
    }

    func redactionPolicy() throws -> RedactionPolicy {
        let secretKeys = configuration.secretKeys.map { SecretKeys(patterns: $0) } ?? .default
        return try RedactionRules.load(path: configuration.redactionRulesFile)
            .with(secretKeys: secretKeys, tenantSecretKeys: try tenantSettings().secretKeys)
    }

    /// What a worker process runs beside its consumer: the SQLite retention sweeper when logs expire.
    func storeServices(_ store: any LogStore) throws -> [any Service] {
        let retention = try retention()
        guard let sqlite = store as? SQLiteLogStore, !retention.keepsEverything else { return [] }
        return [RetentionSweeper(store: sqlite, retention: retention, interval: configuration.retentionSweepInterval, logger: logger)]
    }

    func worker(connection: AMQPConnection, store: any LogStore) throws -> LogWorker {
        LogWorker(
            connection: connection, topology: topology, store: store, redaction: try redactionPolicy(),
            configuration: configuration.workerConfiguration, logger: logger, metrics: metrics,
            queues: configuration.consumedQueues)
    }

    /// `logpipe worker`'s health, readiness and metrics server, unless its port is 0.
    func opsServices(consumer: AMQPConnection, store: any LogStore) -> [any Service] {
        guard configuration.workerHTTPPort != 0 else { return [] }
        let ops = OpsAPI(checks: [.consumer(consumer), .store(store)], metrics: metrics)
        return [
            Application(
                router: ops.router(),
                configuration: .init(address: .hostname(configuration.httpHost, port: configuration.workerHTTPPort), serverName: "logpipe-worker"),
                logger: logger)
        ]
    }

    /// The HTTP application and what it needs beside it (the API keys' SIGHUP reloader, when keys are on).
    func apiServices(publisher: AMQPConnection, extraChecks: [ReadinessCheck] = []) throws -> [any Service] {
        var rateLimits = configuration.rateLimits
        if let data = try tenantsFile() { rateLimits.overrides = try RateLimits.parseOverrides(data) }
        let keys = try configuration.apiKeysFile.map { path throws(ConfigurationError) in try APIKeyStore(path: path) }
        var limits = AMQPLogPublisher.Limits()
        limits.maxPendingConfirms = configuration.maxPendingConfirms
        limits.coalesceInFlight = configuration.coalesceInFlight
        let backlog =
            configuration.maxWorkBacklog > 0
            ? WorkBacklogGate(limit: configuration.maxWorkBacklog, maxWait: configuration.confirmTimeout) : nil
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: publisher, topology: topology, limits: limits, backlog: backlog),
            configuration: configuration, extraChecks: extraChecks, keys: keys, rateLimits: rateLimits,
            metrics: metrics, reader: try reader())
        let certificates = try configuration.httpTLSCertificateFile.map { certificate throws(ConfigurationError) in
            try TLSCertificateStore(certificateFile: certificate, keyFile: configuration.httpTLSKeyFile ?? "")
        }
        let application = api.application(configuration: configuration, logger: logger, tls: certificates)
        var services: [any Service] = [application]
        var reloads: [HangupReloader.Action] = []
        if let backlog {
            services.append(WorkBacklogMonitor(gate: backlog, connection: publisher, queues: topology.workQueues, logger: logger))
        }
        if let keys {
            logger.info("API keys required", metadata: ["keys.count": "\(keys.current.entries.count)"])
            reloads.append(.init(name: "API keys") { "\(try keys.reload()) keys" })
        }
        if let certificates {
            logger.info("HTTPS only", metadata: ["tls.certificate_file": "\(certificates.certificateFile)"])
            reloads.append(.init(name: "HTTPS certificate") { "\(try certificates.reload()) certificates in the chain" })
        }
        if !reloads.isEmpty { services.append(HangupReloader(actions: reloads, logger: logger)) }
        return services
    }
}
