import ArgumentParser
import Foundation
import LogPipeCore

/// `logpipe keys add`: make a tenant API key; print it once, keep only its hash.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys", abstract: "Manage the tenant API keys file (LOGPIPE_API_KEYS_FILE).",
        subcommands: [Add.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a random API key for the given tenants: print it once, append its SHA-256 hash to the keys file.",
            discussion: """
                Running APIs pick the new key up on SIGHUP (kill -HUP <pid>). Revoke a key by deleting its line and sending SIGHUP.
                A key's scopes say what it may do: ingest (send logs, the default) and read (the Loki read API, e.g. for \
                Grafana). An ingest key cannot read and a read key cannot write.
                """)

        @Option(name: .customLong("tenant"), help: "A tenant the key may write (repeat for several).")
        var tenants: [String] = []

        @Flag(help: "The key may write every tenant (an operator key).")
        var allTenants = false

        @Option(name: .customLong("scope"), help: "What the key may do: ingest or read (repeat for both; default ingest).")
        var scopes: [String] = []

        @Option(help: "The keys file (env LOGPIPE_API_KEYS_FILE).")
        var file: String?

        @Option(help: "A note kept next to the hash (who or what uses the key). No secrets.")
        var note: String?

        func validate() throws {
            guard allTenants != !tenants.isEmpty else { throw ValidationError("give --tenant (one or more) or --all-tenants") }
            for tenant in tenants where TenantID(tenant) == nil {
                throw ValidationError("--tenant \(tenant) is not a valid tenant id")
            }
            if let note, note.contains(where: \.isNewline) { throw ValidationError("--note must be one line") }
            for scope in scopes where APIKeyScope(rawValue: scope) == nil {
                throw ValidationError("--scope \(scope) is not a scope (ingest or read)")
            }
        }

        func run() async throws {
            guard let path = try file ?? LogPipeConfiguration.fromProcessEnvironment().http.apiKeysFile else {
                throw ValidationError("set --file or LOGPIPE_API_KEYS_FILE")
            }
            if FileManager.default.fileExists(atPath: path) {
                do {
                    _ = try APIKeyTable.load(path: path)
                } catch {
                    throw CommandFailure("\(path) is not a valid keys file (\(error)); fix it before adding keys")
                }
            }
            let grant = allTenants ? nil : tenants.compactMap(TenantID.init)
            let granted: Set<APIKeyScope> = scopes.isEmpty ? [.ingest] : Set(scopes.compactMap { APIKeyScope(rawValue: $0) })
            let (key, line) = APIKeyTable.newKey(tenants: grant, scopes: granted, note: (note ?? "added") + " " + UnixTime.now.rfc3339)
            try Self.append(line + "\n", to: path)
            print(key)
            FileHandle.standardError.write(
                Data(
                    """
                    The key above is shown once; logpipe keeps only its hash (appended to \(path)).
                    Running APIs accept it after SIGHUP. Send it as: Authorization: Bearer <key>
                    Scopes: \(granted.map(\.rawValue).sorted().joined(separator: ", ")).

                    """.utf8))
        }

        /// Appends to the file, creating it readable by its owner only.
        static func append(_ text: String, to path: String) throws {
            let descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT, 0o600)
            guard descriptor >= 0 else { throw CommandFailure("cannot open \(path) for appending") }
            defer { close(descriptor) }
            let bytes = Array(text.utf8)
            guard write(descriptor, bytes, bytes.count) == bytes.count else { throw CommandFailure("cannot write \(path)") }
        }
    }
}
