/// How to reach a broker and how the connection behaves.
public struct AMQPConfiguration: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var user: String
    public var password: String
    public var virtualHost: String
    /// Heartbeat interval negotiated with the broker, in seconds (0 disables heartbeats).
    public var heartbeatSeconds: Int = 10
    /// How long opening the socket and the AMQP handshake may take.
    public var connectTimeout: Duration = .seconds(5)
    /// How long a publish waits for the broker's confirm before it fails with `confirmTimeout`.
    public var confirmTimeout: Duration = .seconds(10)
    /// How long a synchronous broker operation (declare, get, purge, consume) may take.
    public var rpcTimeout: Duration = .seconds(10)
    /// First delay before reconnecting after the connection was lost; doubles up to `maxReconnectDelay`.
    public var initialReconnectDelay: Duration = .milliseconds(100)
    public var maxReconnectDelay: Duration = .seconds(5)
    /// A name the management UI shows for the connection.
    public var connectionName: String = "logpipe"

    public init(host: String = "127.0.0.1", port: Int = 5672, user: String = "guest",
                password: String = "guest", virtualHost: String = "/") {
        self.host = host
        self.port = port
        self.user = user
        self.password = password
        self.virtualHost = virtualHost
    }

    /// Parses `amqp://user:password@host:port/vhost` as RabbitMQ's URI spec describes: user, password
    /// and vhost are percent-decoded, an empty path means vhost `/`, and `%2f` spells `/` inside a vhost.
    public init(url: String) throws {
        let prefix = "amqp://"
        guard url.lowercased().hasPrefix(prefix) else {
            throw AMQPError(.invalidConfiguration, "the AMQP URL must start with amqp:// (amqps is not supported)")
        }
        var rest = Substring(url.dropFirst(prefix.count))
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
        self.init()
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

    /// The URL without the password, safe to log.
    public var redactedURL: String {
        let vhost = virtualHost == "/" ? "" : virtualHost.replacingAll("/", with: "%2F")
        return "amqp://\(user)@\(host):\(port)/\(vhost)"
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

extension String {
    fileprivate func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self { if character == target { result += replacement } else { result.append(character) } }
        return result
    }
}
