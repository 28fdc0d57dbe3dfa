import Foundation

/// A SecantusDB server of the test's own (an independent MongoDB-wire-protocol server, not MongoDB), started and
/// wiped with `scripts/secantus.sh`, for what concerns a whole server: TLS, a step-down, the TTL sweeper's first pass. It runs
/// with `--auth` and the two users the script creates (``url`` and ``adminURL``).
struct PrivateSecantus {
    let name: String
    let port: Int
    /// More of scripts/secantus.sh's variables (`LOGPIPE_SECANTUS_TLS_DIR`, `LOGPIPE_SECANTUS_TLS_PEER`).
    var environment: [String: String] = [:]

    var directory: String { "/tmp/logpipe-secantus-\(name)" }

    func start() async throws { _ = try await script("start") }
    func stop() async throws { _ = try await script("stop") }
    func wipe() async throws { _ = try await script("wipe") }
    /// The application user's URI (`logpipe`), without the test command's timeouts.
    func url() async throws -> String { try await script("url").trimmingCharacters(in: .whitespacesAndNewlines) }
    /// The root user's URI (`logpipe-root`).
    func adminURL() async throws -> String { try await script("admin-url").trimmingCharacters(in: .whitespacesAndNewlines) }
    /// The application user's password (kept in the server's directory by the script).
    func password() throws -> String {
        try String(contentsOfFile: directory + "/app.password", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs the script on a thread of its own (it blocks while the server boots); its output, or a failure
    /// quoting it.
    private func script(_ command: String) async throws -> String {
        let path = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/secantus.sh").path
        var variables = ["LOGPIPE_SECANTUS_NAME": name, "LOGPIPE_SECANTUS_PORT": "\(port)", "LOGPIPE_SECANTUS_DIR": directory]
        variables["LOGPIPE_SECANTUS_TLS_DIR"] = ""
        for (key, value) in environment { variables[key] = value }
        let assignments = variables.sorted { $0.key < $1.key }.map { "\($0.key)='\($0.value)'" }.joined(separator: " ")
        let (status, output) = await Shell.run("\(assignments) bash '\(path)' \(command)")
        guard status == 0 else {
            throw PrivateBroker.ScriptFailed(description: "scripts/secantus.sh \(command) exited \(status): \(output.suffix(2000))")
        }
        return output
    }
}
