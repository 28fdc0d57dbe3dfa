import AMQPBridge
import Foundation
import Hummingbird
import LogPipeCore
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// Builds the long-running pieces a command runs, from one configuration.
struct Runtime {
    let configuration: LogPipeConfiguration
    let logger: Logger
    /// The process's metrics (one registry, served at `/metrics`).
    let metrics: LogPipeMetrics
    private let tenants = TenantsFileCache()

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
            if let uri = configuration.store.mongoURI {
                return try MongoLogStore(
                    uri: uri, database: configuration.store.mongoDatabase, writeConcern: configuration.store.mongoWriteConcern,
                    retention: try retention())
            }
            return try SQLiteLogStore(path: configuration.store.sqlitePath)
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
            if let uri = configuration.store.mongoURI { return try MongoLogReader(uri: uri, database: configuration.store.mongoDatabase) }
        } catch {
            throw CommandFailure("\(error)")
        }
        return SQLiteLogReader(path: configuration.store.sqlitePath)
    }

    /// The tenants file (rate limits, retention, secret keys), read once, when first needed (`logs` and `dlq`
    /// never read it): an unreadable or invalid file stops the process.
    func tenantSettings() throws -> TenantSettings {
        try tenants.parsed.withLock { cached in
            if let cached { return cached }
            var settings = TenantSettings()
            if let path = configuration.tenantsFile {
                guard let data = FileManager.default.contents(atPath: path) else {
                    throw CommandFailure("LOGPIPE_TENANTS_FILE cannot read \(path)")
                }
                settings = try TenantSettings.parse(data)
            }
            cached = settings
            return settings
        }
    }

    func retention() throws -> RetentionPolicy {
        RetentionPolicy(period: configuration.store.retention, overrides: try tenantSettings().retention)
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
        return [RetentionSweeper(store: sqlite, retention: retention, interval: configuration.store.retentionSweepInterval, logger: logger)]
    }

    func worker(connection: AMQPConnection, store: any LogStore) throws -> LogWorker {
        LogWorker(
            connection: connection, topology: topology, store: store, redaction: try redactionPolicy(),
            configuration: configuration.worker, logger: logger, metrics: metrics,
            queues: configuration.consumedQueues)
    }

    /// `logpipe worker`'s health, readiness and metrics server, unless its port is 0.
    func opsServices(consumer: AMQPConnection, store: any LogStore) -> [any Service] {
        guard configuration.workerHTTPPort != 0 else { return [] }
        let ops = OpsAPI(checks: [.consumer(consumer), .store(store)], metrics: metrics)
        return [
            Application(
                router: ops.router(),
                configuration: .init(address: .hostname(configuration.http.host, port: configuration.workerHTTPPort), serverName: "logpipe-worker"),
                logger: logger)
        ]
    }

    /// The HTTP application and what it needs beside it (the API keys' SIGHUP reloader, when keys are on).
    func apiServices(publisher: AMQPConnection, extraChecks: [ReadinessCheck] = []) throws -> [any Service] {
        var rateLimits = configuration.limits.rateLimits
        rateLimits.overrides = try tenantSettings().rateLimits
        let keys = try configuration.http.apiKeysFile.map { path throws(ConfigurationError) in try APIKeyStore(path: path) }
        let backlog =
            configuration.limits.maxWorkBacklog > 0
            ? WorkBacklogGate(limit: configuration.limits.maxWorkBacklog, maxWait: configuration.amqp.confirmTimeout) : nil
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: publisher, topology: topology, limits: configuration.publisher, backlog: backlog),
            configuration: configuration, extraChecks: extraChecks, keys: keys, rateLimits: rateLimits,
            metrics: metrics, reader: try reader())
        let certificates = try configuration.http.tlsCertificateFile.map { certificate throws(ConfigurationError) in
            try TLSCertificateStore(certificateFile: certificate, keyFile: configuration.http.tlsKeyFile ?? "")
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

/// What ``Runtime/tenantSettings()`` read, kept for the runtime's copies.
private final class TenantsFileCache: Sendable {
    let parsed = Mutex<TenantSettings?>(nil)
}
