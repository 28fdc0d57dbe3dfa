import Foundation
import Glibc

/// The `logpipe` executable run as a child process, for tests that kill or stop it.
final class WorkerProcess: Sendable {
    let pid: pid_t

    /// The built `logpipe` (`swift build --build-tests` builds it; `LOGPIPE_TEST_BINARY` overrides).
    static var binary: String {
        get throws {
            let path =
                ProcessInfo.processInfo.environment["LOGPIPE_TEST_BINARY"]
                ?? TestEnvironment.repositoryRoot.appendingPathComponent(".build/debug/logpipe").path
            guard FileManager.default.isExecutableFile(atPath: path) else {
                throw TestEnvironment.Missing(description: "no logpipe executable at \(path): run `swift build --build-tests` first")
            }
            return path
        }
    }

    /// Starts `logpipe <arguments>` (or `executable <arguments>`) with the test's environment plus `environment`; output goes to `logPath`
    /// (standard error too, unless `errorPath` is given).
    init(
        _ arguments: [String], environment: [String: String], logPath: String, errorPath: String? = nil,
        executable: String? = nil
    ) throws {
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let binary = try executable ?? Self.binary
        let argv: [UnsafeMutablePointer<CChar>?] = ([binary] + arguments).map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = merged.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, logPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        if let errorPath {
            posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        } else {
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        }
        var pid = pid_t()
        let status = posix_spawn(&pid, binary, &actions, nil, argv, envp)
        guard status == 0 else { throw TestEnvironment.Missing(description: "posix_spawn failed: \(status)") }
        self.pid = pid
    }

    func signal(_ signal: Int32) { _ = kill(pid, signal) }

    /// Waits (on a thread of its own) for the process to exit; returns its exit status, or 128+signal.
    func wait() async -> Int32 {
        await withCheckedContinuation { continuation in
            Thread { [pid] in
                var status: Int32 = 0
                while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
                let signalled = status & 0x7F
                continuation.resume(returning: signalled != 0 ? 128 + signalled : (status >> 8) & 0xFF)
            }.start()
        }
    }
}
