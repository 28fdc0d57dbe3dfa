/// One broker node to connect to: where it listens, whether over TLS (`amqps://`), and how to log in.
public struct AMQPEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String
    /// TLS (`amqps://`): the broker's certificate and host name are verified as ``AMQPTLSOptions`` says.
    public var tls: Bool

    public init(
        host: String = "127.0.0.1", port: Int = 5672, user: String = "guest", password: String = "guest",
        virtualHost: String = "/", tls: Bool = false
    ) {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
        self.tls = tls
    }

    /// `host:port`, the name readiness and metrics give the node (no credentials).
    public var address: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// The URL without the password, safe to log.
    public var redactedURL: String {
        let vhost = virtualHost == "/" ? "" : virtualHost.replacingAll("/", with: "%2F")
        return "\(tls ? "amqps" : "amqp")://\(user)@\(address)/\(vhost)"
    }
}

/// How `amqps://` endpoints are secured. Verification is on by default: the broker's certificate must chain to
/// `caFile` (else to the system trust store) and name the host of the URL.
public struct AMQPTLSOptions: Sendable, Equatable {
    /// PEM file of the certificate authorities to trust; nil = ``systemTrustStore``.
    public var caFile: String?
    /// PEM client certificate (chain) and its private key, for brokers that require one (mutual TLS).
    public var certificateFile: String?
    public var keyFile: String?
    /// False skips both the chain and the host-name checks (an explicit, logged opt-out).
    public var verify = true

    /// Debian's and Ubuntu's bundle of the system's trusted authorities (package ca-certificates).
    public static let systemTrustStore = "/etc/ssl/certs/ca-certificates.crt"

    public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, verify: Bool = true) {
        self.caFile = caFile
        self.certificateFile = certificateFile
        self.keyFile = keyFile
        self.verify = verify
    }
}

/// How to reach a broker (one node or several of a cluster) and how the connection behaves.
public struct AMQPConfiguration: Sendable, Equatable {
    /// The nodes to try, in order: the first that accepts is used; after a connection is lost the next one in
    /// the list is tried first, so a dead node is skipped at once. Never empty.
    public var endpoints: [AMQPEndpoint]

    /// The first endpoint's host (the others are in ``endpoints``).
    public var host: String {
        get { endpoints[0].host }
        set { endpoints[0].host = newValue }
    }
    public var port: Int {
        get { endpoints[0].port }
        set { endpoints[0].port = newValue }
    }
    public var user: String {
        get { endpoints[0].user }
        set { endpoints[0].user = newValue }
    }
    public var password: String {
        get { endpoints[0].password }
        set { endpoints[0].password = newValue }
    }
    public var virtualHost: String {
        get { endpoints[0].virtualHost }
        set { endpoints[0].virtualHost = newValue }
    }
    /// Heartbeat interval negotiated with the broker, in seconds (0 disables heartbeats).
    public var heartbeatSeconds: Int = Self.defaultHeartbeatSeconds
    public static let defaultHeartbeatSeconds = 10
    /// How long opening the socket and the AMQP handshake may take.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a publish waits for the broker's confirm before it fails with `confirmTimeout`.
    public var confirmTimeout: Duration = Self.defaultConfirmTimeout
    /// `LOGPIPE_CONFIRM_TIMEOUT_MS`'s default too (docs/configuration.md).
    public static let defaultConfirmTimeout: Duration = .seconds(5)
    /// How long a synchronous broker operation (declare, get, purge, consume) may take.
    public var rpcTimeout: Duration = .seconds(10)
    /// First delay before reconnecting after the connection was lost; doubles up to `maxReconnectDelay`.
    public var initialReconnectDelay: Duration = .milliseconds(100)
    public var maxReconnectDelay: Duration = .seconds(5)
    /// How long to wait before connecting again after the broker refused the topology (a queue that exists
    /// with other arguments stays so until an operator migrates it).
    public var topologyRetryDelay: Duration = .seconds(30)
    /// A name the management UI shows for the connection.
    public var connectionName: String = "logpipe"
    /// Certificates and verification for the `amqps://` endpoints.
    public var tls = AMQPTLSOptions()

    public init(
        host: String = "127.0.0.1", port: Int = 5672, user: String = "guest",
        password: String = "guest", virtualHost: String = "/"
    ) {
        endpoints = [AMQPEndpoint(host: host, port: port, user: user, password: password, virtualHost: virtualHost)]
    }

    public init(endpoints: [AMQPEndpoint]) {
        precondition(!endpoints.isEmpty, "at least one broker endpoint")
        self.endpoints = endpoints
    }

    /// True when the `amqps://` endpoints' certificates are not checked (``AMQPTLSOptions/verify`` is false).
    public var skipsTLSVerification: Bool { !tls.verify && endpoints.contains(where: \.tls) }

    /// Parses one `amqp://user:password@host:port/vhost` URL, or several separated by commas (the nodes of a
    /// cluster), as RabbitMQ's URI spec describes: user, password and vhost are percent-decoded (a comma in a
    /// password is `%2C`), an empty path means vhost `/`, and `%2f` spells `/` inside a vhost.
    public init(url: String) throws {
        let parts = url.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingSpaces() }
        guard parts.allSatisfy({ !$0.isEmpty }) else {
            throw AMQPError(.invalidConfiguration, "the AMQP URL list has an empty entry (separate URLs with single commas)")
        }
        let endpoints = try parts.map(AMQPEndpoint.init(url:))
        // A list mixing amqps and amqp would fail over from TLS to plain TCP, credentials and all.
        guard Set(endpoints.map(\.tls)).count == 1 else {
            throw AMQPError(.invalidConfiguration, "the AMQP URL list mixes amqps:// and amqp://: use one scheme for every node")
        }
        self.init(endpoints: endpoints)
    }

    /// The URLs without passwords, comma-separated, safe to log.
    public var redactedURL: String { endpoints.map(\.redactedURL).joined(separator: ",") }
}

extension AMQPEndpoint {
    /// Parses one `amqp://` or `amqps://` URL (see ``AMQPConfiguration/init(url:)``); amqps's default port is 5671.
    public init(url: String) throws {
        let scheme = url.lowercased().hasPrefix("amqps://") ? "amqps://" : "amqp://"
        guard url.lowercased().hasPrefix(scheme) else {
            throw AMQPError(.invalidConfiguration, "the AMQP URL must start with amqp:// or amqps:// (TLS)")
        }
        var rest = Substring(url.dropFirst(scheme.count))
        var path: Substring?
        if let slash = rest.firstIndex(of: "/") {
            path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring?
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        self.init(port: scheme == "amqps://" ? 5671 : 5672, tls: scheme == "amqps://")
        if let userInfo {
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            user = try Self.percentDecoded(parts[0])
            password = parts.count > 1 ? try Self.percentDecoded(parts[1]) : ""
        }
        var hostPart = rest
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let value = Int(rest[rest.index(after: colon)...]), (1...65535).contains(value) else {
                throw AMQPError(.invalidConfiguration, "the AMQP URL has an invalid port")
            }
            port = value
            hostPart = rest[..<colon]
        }
        if hostPart.hasPrefix("["), hostPart.hasSuffix("]") { hostPart = hostPart.dropFirst().dropLast() }
        if !hostPart.isEmpty { host = String(hostPart) }
        if let path, !path.isEmpty { virtualHost = try Self.percentDecoded(path) }
    }

    private static func percentDecoded(_ text: Substring) throws -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else { bytes.append(byte); continue }
            guard let high = iterator.next().flatMap(Self.hexValue), let low = iterator.next().flatMap(Self.hexValue) else {
                throw AMQPError(.invalidConfiguration, "the AMQP URL has an invalid percent escape")
            }
            bytes.append(high << 4 | low)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        String(drop(while: { $0 == " " }).reversed().drop(while: { $0 == " " }).reversed())
    }
}

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
