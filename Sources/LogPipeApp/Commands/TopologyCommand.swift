import AMQPBridge
import ArgumentParser
import Logging

/// `logpipe topology`: declares the exchanges and queues (idempotently) and prints them.
struct TopologyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topology", abstract: "Declare logpipe's exchanges and queues on the broker and print them.")

    @OptionGroup var common: CommonOptions

    @Flag(help: "Only print the topology; do not connect to the broker.")
    var dryRun = false

    func run() async throws {
        let configuration = try common.configuration()
        let topology = configuration.topology
        if !dryRun {
            let logger = LogSetup.makeLogger(label: "logpipe.topology", level: configuration.logLevel)
            let connection = AMQPConnection(
                configuration: try configuration.amqpConfiguration(connectionName: "logpipe-topology"),
                logger: logger)
            connection.start()
            do {
                try await connection.waitUntilConnected(timeout: .seconds(10))
                try await connection.declare(topology.declarations)
            } catch {
                await connection.close()
                throw CommandFailure("could not declare the topology: \(error)")
            }
            await connection.close()
            print("declared on \(try configuration.amqpConfiguration(connectionName: "").redactedURL):")
        }
        print(topology.table)
    }
}
