import AMQPBridge
import ArgumentParser
import Hummingbird
import Logging
import ServiceLifecycle
import UnixSignals

/// `logpipe api`: the HTTP ingestion API, publishing to RabbitMQ with confirms.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Run the HTTP ingestion API (POST /ingest, GET /health, GET /readiness).")

    @OptionGroup var common: CommonOptions

    @Option(help: "Address to listen on (env LOGPIPE_HTTP_HOST, default 0.0.0.0).")
    var host: String?

    @Option(help: "Port to listen on (env LOGPIPE_HTTP_PORT, default 8000).")
    var port: Int?

    func run() async throws {
        var configuration = try common.configuration()
        if let host { configuration.httpHost = host }
        if let port { configuration.httpPort = port }
        let logger = LogSetup.makeLogger(label: "logpipe.api", level: configuration.logLevel)
        let topology = Topology(namespace: configuration.namespace)
        let connection = AMQPConnection(
            configuration: try configuration.amqpConfiguration(connectionName: "logpipe-api"),
            topology: topology.declarations, logger: logger)
        let api = IngestAPI(publisher: AMQPLogPublisher(connection: connection, topology: topology),
                            configuration: configuration)
        let app = Application(
            router: api.router(),
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort),
                                 serverName: "logpipe"),
            logger: logger)
        let group = ServiceGroup(
            services: [AMQPConnectionService(connection: connection), app],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        logger.info("logpipe api starting", metadata: [
            "http.port": "\(configuration.httpPort)", "amqp.url": "\(connection.configuration.redactedURL)",
            "namespace": "\(configuration.namespace)"])
        try await group.run()
    }
}
