import Crypto
import Foundation
import LogPipeCore
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The tenant API keys (`LOGPIPE_API_KEYS_FILE`): SHA-256 hashes of keys, the tenants each may use, and what
/// it may do with them (its scopes: `ingest`, `read`).
///
/// File format, one key per line, `#` starts a comment; a line without scopes is an `ingest` key (the format
/// before scopes existed):
///
///     sha256:<64 hex digits> acme_corp,acme_staging   # ci pipeline
///     sha256:<64 hex digits> *                        # every tenant
///     sha256:<64 hex digits> acme_corp read           # Grafana: reads acme_corp, cannot write
///     sha256:<64 hex digits> acme_corp ingest,read    # both
///
/// Only hashes are kept, in the file and in memory; a presented key is hashed and compared with every entry
/// in constant time.
public struct APIKeyTable: Sendable {
    public struct Entry: Sendable, Equatable {
        /// SHA-256 of the key.
        public var hash: [UInt8]
        /// The tenants the key may write or read; `nil` = every tenant.
        public var tenants: Set<TenantID>?
        /// What the key may do.
        public var scopes: Set<APIKeyScope> = [.ingest]

        /// The tenant a key for exactly one tenant fixes when a request names none.
        public var onlyTenant: TenantID? {
            guard let tenants, tenants.count == 1 else { return nil }
            return tenants.first
        }

        public func allows(_ tenant: TenantID) -> Bool { tenants?.contains(tenant) ?? true }
    }

    public var entries: [Entry]

    public init(entries: [Entry] = []) { self.entries = entries }

    /// Parses a keys file; the error names the line and never echoes it.
    public static func parse(_ text: String) throws(ConfigurationError) -> APIKeyTable {
        var entries: [Entry] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            func invalid(_ why: String) -> ConfigurationError {
                ConfigurationError(variable: "LOGPIPE_API_KEYS_FILE", message: "line \(index + 1): \(why)")
            }
            guard fields.count == 2 || fields.count == 3 else {
                throw invalid("expected `sha256:<hex> <tenant>[,<tenant>…]` or `… *`, then optionally scopes such as `read` or `ingest,read`")
            }
            guard fields[0].hasPrefix("sha256:"), let hash = Self.hexBytes(fields[0].dropFirst(7)), hash.count == 32 else {
                throw invalid("the hash must be sha256: followed by 64 hex digits")
            }
            var tenants: Set<TenantID>?
            if fields[1] != "*" {
                var set = Set<TenantID>()
                for name in fields[1].split(separator: ",") {
                    guard let tenant = TenantID(String(name)) else { throw invalid("a tenant id is not valid") }
                    set.insert(tenant)
                }
                guard !set.isEmpty else { throw invalid("no tenant listed") }
                tenants = set
            }
            var scopes: Set<APIKeyScope> = [.ingest]
            if fields.count == 3 {
                scopes = []
                for name in fields[2].split(separator: ",") {
                    guard let scope = APIKeyScope(rawValue: String(name)) else { throw invalid("a scope must be ingest or read") }
                    scopes.insert(scope)
                }
                guard !scopes.isEmpty else { throw invalid("no scope listed") }
            }
            entries.append(Entry(hash: hash, tenants: tenants, scopes: scopes))
        }
        return APIKeyTable(entries: entries)
    }

    public static func load(path: String) throws(ConfigurationError) -> APIKeyTable {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_API_KEYS_FILE", message: "cannot read \(path)")
        }
        return try parse(text)
    }

    /// The entry of a presented key, comparing its hash with every entry in constant time.
    public func lookup(_ key: String) -> Entry? {
        let presented = Array(SHA256.hash(data: Data(key.utf8)))
        var found: Entry?
        for entry in entries {
            var difference: UInt8 = 0
            for index in 0..<32 { difference |= entry.hash[index] ^ presented[index] }
            if difference == 0 && found == nil { found = entry }
        }
        return found
    }

    /// A new random key (`lpk_` + 64 hex digits, 256 bits) and the line that grants it `scopes` on `tenants` (an
    /// `ingest`-only key is written without scopes, as before scopes existed).
    public static func newKey(tenants: [TenantID]?, scopes: Set<APIKeyScope> = [.ingest], note: String) -> (key: String, line: String) {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let key = "lpk_" + hex(bytes)
        let grant = tenants.map { $0.map(\.rawValue).joined(separator: ",") } ?? "*"
        let scopeField = scopes == [.ingest] ? "" : " " + scopes.map(\.rawValue).sorted().joined(separator: ",")
        return (key, "sha256:\(hex(Array(SHA256.hash(data: Data(key.utf8))))) \(grant)\(scopeField)  # \(note)")
    }

    static func hex(_ bytes: [UInt8]) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
            default: nil
            }
        }
        var bytes: [UInt8] = []
        for index in stride(from: 0, to: utf8.count, by: 2) {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        return bytes
    }
}

/// What a key may do: `ingest` (POST /ingest, /v1/logs, /loki/api/v1/push) and `read` (the Loki read API).
public enum APIKeyScope: String, Sendable, Hashable, CaseIterable {
    case ingest
    case read
}

/// The current key table, replaced as a whole on reload.
public final class APIKeyStore: Sendable {
    public let path: String
    private let table: Mutex<APIKeyTable>

    public init(path: String) throws(ConfigurationError) {
        self.path = path
        self.table = Mutex(try APIKeyTable.load(path: path))
    }

    public var current: APIKeyTable { table.withLock { $0 } }

    /// Reads the file again; a file that does not parse, has no keys, or does not end with a newline (caught
    /// while an editor or a script rewrites it in place) leaves the current keys in force: a half-written file
    /// never turns into "no keys, every request 401". Write the file atomically (a temporary file, then `mv`).
    public func reload() throws(ConfigurationError) -> Int {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(variable: "LOGPIPE_API_KEYS_FILE", message: "cannot read \(path)")
        }
        guard text.hasSuffix("\n") else {
            throw ConfigurationError(
                variable: "LOGPIPE_API_KEYS_FILE",
                message: "the file does not end with a newline (still being written?); replace it atomically with mv")
        }
        let fresh = try APIKeyTable.parse(text)
        guard !fresh.entries.isEmpty else {
            throw ConfigurationError(
                variable: "LOGPIPE_API_KEYS_FILE",
                message: "the file has no keys; to refuse every request, stop the API instead")
        }
        table.withLock { $0 = fresh }
        return fresh.entries.count
    }
}

/// Reloads what the API reads from files (the API keys, the HTTPS certificate) on SIGHUP, each on its own: one
/// that fails to load keeps its previous contents in force and is logged.
struct HangupReloader: Service {
    struct Action: Sendable {
        var name: String
        /// Loads the file again; returns what to log (counts, never contents).
        var reload: @Sendable () throws -> String
    }

    let actions: [Action]
    let logger: Logger

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        for await _ in signals.cancelOnGracefulShutdown() {
            for action in actions {
                do {
                    let summary = try action.reload()
                    logger.info("\(action.name) reloaded", metadata: ["reload.summary": "\(summary)"])
                } catch {
                    logger.error("\(action.name) file not reloaded; the previous contents stay in force", metadata: ["error": "\(error)"])
                }
            }
        }
    }
}
