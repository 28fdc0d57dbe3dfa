import AMQPBridge
import ArgumentParser
import Logging
import ServiceLifecycle
import UnixSignals

/// `logpipe api`: the HTTP ingestion API, publishing to RabbitMQ with confirms.
struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api", abstract: "Run the HTTP ingestion API (POST /ingest, GET /health, GET /readiness, GET /openapi.yaml).")

    @OptionGroup var common: CommonOptions
    @OptionGroup var http: HTTPOptions

    func run() async throws {
        var configuration = try common.configuration()
        http.apply(to: &configuration)
        let runtime = Runtime(configuration: configuration, label: "logpipe.api")
        let publisher = try runtime.connection("logpipe-api")
        runtime.logger.info(
            "logpipe api starting",
            metadata: [
                "http.port": "\(configuration.http.port)", "amqp.url": "\(publisher.configuration.redactedURL)",
                "namespace": "\(configuration.amqp.namespace)",
            ])
        try await runtime.run([AMQPConnectionService(connection: publisher)] + runtime.apiServices(publisher: publisher))
    }
}

/// `logpipe worker`: consume, redact, store.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker", abstract: "Consume logs from RabbitMQ, redact PII and store them per tenant.")

    @OptionGroup var common: CommonOptions

    func run() async throws {
        let configuration = try common.configuration()
        let runtime = Runtime(configuration: configuration, label: "logpipe.worker")
        let consumer = try runtime.connection("logpipe-worker")
        let store = try runtime.store()
        let worker = try runtime.worker(connection: consumer, store: store)
        runtime.logger.info(
            "logpipe worker starting",
            metadata: [
                "amqp.url": "\(consumer.configuration.redactedURL)", "namespace": "\(configuration.amqp.namespace)",
                "store": "\(configuration.storeDescription)", "prefetch": "\(configuration.worker.prefetch)",
                "http.port": "\(configuration.workerHTTPPort)",
            ])
        try await runtime.run(
            [AMQPConnectionService(connection: consumer), worker] + (try runtime.storeServices(store))
                + runtime.opsServices(consumer: consumer, store: store))
    }
}

/// `logpipe serve`: the API and a worker in one process (separate connections for publishing and consuming).
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Run the API and a worker in one process.")

    @OptionGroup var common: CommonOptions
    @OptionGroup var http: HTTPOptions

    func run() async throws {
        var configuration = try common.configuration()
        http.apply(to: &configuration)
        let runtime = Runtime(configuration: configuration, label: "logpipe")
        let publisher = try runtime.connection("logpipe-api")
        let consumer = try runtime.connection("logpipe-worker")
        let store = try runtime.store()
        let worker = try runtime.worker(connection: consumer, store: store)
        runtime.logger.info(
            "logpipe serve starting",
            metadata: [
                "http.port": "\(configuration.http.port)", "amqp.url": "\(publisher.configuration.redactedURL)",
                "namespace": "\(configuration.amqp.namespace)", "store": "\(configuration.storeDescription)",
            ])
        // Shutdown runs in reverse: HTTP stops, the worker finishes and acks its batch, then the connections close.
        try await runtime.run(
            [AMQPConnectionService(connection: publisher), AMQPConnectionService(connection: consumer), worker]
                + (try runtime.storeServices(store))
                + runtime.apiServices(publisher: publisher, extraChecks: [.consumer(consumer), .store(store)]))
    }
}

/// Listen address flags of the API.
struct HTTPOptions: ParsableArguments {
    @Option(help: "Address to listen on (env LOGPIPE_HTTP_HOST, default 0.0.0.0).")
    var host: String?

    @Option(help: "Port to listen on (env LOGPIPE_HTTP_PORT, default 8000).")
    var port: Int?

    func apply(to configuration: inout LogPipeConfiguration) {
        if let host { configuration.http.host = host }
        if let port { configuration.http.port = port }
    }
}
