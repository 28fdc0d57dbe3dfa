import Foundation
import Glibc

/// A throw-away RabbitMQ node of the test's own, started and killed with `broker/rabbitmq.sh`, for tests that
/// take the broker away (the shared test node must stay up for the other tests).
struct PrivateBroker {
    let name: String
    let port: Int
    /// More of broker/rabbitmq.sh's variables (e.g. a TLS listener).
    var environment: [String: String] = [:]

    var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

    func start() async throws {
        // broker/rabbitmq.sh puts the distribution port at the AMQP port + 20,000; in the ephemeral range an outgoing
        // connection may hold it and the node fails to boot (`dist_port_already_used`).
        guard port + 20_000 < 32_768 else { throw TestEnvironment.Missing(description: "PrivateBroker port \(port): keep it under 12,768") }
        try await script("start")
    }
    /// SIGKILL of the Erlang VM: a crash, not a clean stop.
    func kill() async throws { try await script("kill") }
    func wipe() async throws { try await script("wipe") }
    /// `rabbitmqctl` against this node.
    func ctl(_ arguments: String) async throws { try await script("ctl \(arguments)") }

    /// Runs the script and waits for it on a thread of its own (it blocks for seconds while the node boots;
    /// the cooperative pool must not). Output goes to a log file that a failure quotes.
    private func script(_ command: String) async throws {
        let logPath = "/tmp/logpipe-test-broker-\(name).log"
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("broker/rabbitmq.sh").path
        let extra = environment.sorted { $0.key < $1.key }.map { "\($0.key)='\($0.value)' " }.joined()
        let line =
            "LOGPIPE_BROKER_NAME=\(name) LOGPIPE_BROKER_PORT=\(port) LOGPIPE_BROKER_PLUGINS=none \(extra)"
            + "'\(script)' \(command) > '\(logPath)' 2>&1"
        let status: Int32 = await withCheckedContinuation { continuation in
            let thread = Thread { continuation.resume(returning: Self.system(line)) }
            thread.start()
        }
        guard status == 0 else {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            throw ScriptFailed(description: "broker/rabbitmq.sh \(command) exited \(status): \(text.suffix(2000))")
        }
    }

    /// `/bin/sh -c line` with posix_spawn and a blocking waitpid; returns the exit status.
    static func system(_ line: String) -> Int32 {
        let arguments: [UnsafeMutablePointer<CChar>?] = ["/bin/sh", "-c", line].map { (text: String) in strdup(text) } + [nil]
        defer { for argument in arguments { free(argument) } }
        var pid = pid_t()
        guard posix_spawn(&pid, "/bin/sh", nil, nil, arguments, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
        return (status >> 8) & 0xFF
    }

    struct ScriptFailed: Error, CustomStringConvertible { var description: String }
}
