import ArgumentParser

#if canImport(Glibc)
import Glibc
#endif

/// `logpipe`: the root command; each subcommand is one mode of the one executable.
public struct LogPipeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "logpipe",
        abstract: "Multi-tenant log ingestion: HTTP API → RabbitMQ → redaction → per-tenant store.",
        subcommands: [
            ServeCommand.self, APICommand.self, WorkerCommand.self, TopologyCommand.self, DLQCommand.self, KeysCommand.self, LogsCommand.self,
            RedactCommand.self,
        ])

    public init() {}
}

extension LogPipeCommand {
    /// Parses the process arguments and runs the chosen subcommand, exiting with its status.
    ///
    /// (Called from `main.swift`; across modules Swift picks argument-parser's synchronous `main()` for an
    /// async root command, so the async dispatch is spelled out here.)
    public static func runAsRoot(_ arguments: [String]? = nil) async {
        // SIGHUP's default action ends the process: ignored until (and unless) the API keys' reloader
        // listens for it, so a SIGHUP to an API without keys, or one sent during start-up, is harmless.
        signal(SIGHUP, SIG_IGN)
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(withError: error)
        }
    }
}
