import ArgumentParser
import Foundation
import Logging

/// Flags every broker-facing command shares; each overrides its environment variable.
struct CommonOptions: ParsableArguments {
    @Option(name: .customLong("amqp-url"), help: "Broker URL, or several nodes comma-separated (env LOGPIPE_AMQP_URL).")
    var amqpURL: String?

    @Option(help: "Prefix of exchange and queue names (env LOGPIPE_NAMESPACE).")
    var namespace: String?

    /// Defaults, then the environment, then these flags.
    func configuration() throws -> LogPipeConfiguration {
        var configuration = try LogPipeConfiguration.fromProcessEnvironment()
        if let amqpURL { configuration.amqp.url = amqpURL }
        if let namespace { configuration.amqp.namespace = namespace }
        try configuration.validate()
        return configuration
    }
}

enum LogSetup {
    /// Bootstraps swift-log once per process: lines on stderr at the configured level, plain text or JSON.
    static func makeLogger(label: String, level: Logger.Level, format: LogPipeConfiguration.LogFormat = .text) -> Logger {
        LoggingSystem.bootstrap { label in StderrLogHandler(label: label, logLevel: level, format: format) }
        var logger = Logger(label: label)
        logger.logLevel = level
        return logger
    }
}

/// A command failed for a reason the operator can act on; printed as `Error: <message>`, exit code 1.
struct CommandFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
