/// An error from the AMQP bridge.
///
/// The `description` names what went wrong and where (exchange, queue, reply code), never a message body.
public struct AMQPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable, extensible error code.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        init(_ value: String) { self.value = value }
        public var description: String { value }

        /// There is no open connection right now (the bridge is reconnecting or was never connected).
        public static let notConnected = Code("not_connected")
        /// The connection was lost while the operation was in flight; its outcome is unknown.
        public static let connectionLost = Code("connection_lost")
        /// The connection was closed by `close()`.
        public static let closed = Code("closed")
        /// Opening the TCP socket, the AMQP handshake or the login failed.
        public static let connectFailed = Code("connect_failed")
        /// The TLS handshake or certificate verification with an `amqps://` endpoint failed, or the certificate
        /// files could not be loaded; never retried over plain TCP.
        public static let tlsFailed = Code("tls_failed")
        /// The broker answered `basic.nack` for a published message.
        public static let nacked = Code("nacked")
        /// A `mandatory` message could not be routed to any queue (`basic.return`).
        public static let unroutable = Code("unroutable")
        /// No publisher confirm arrived within the configured timeout.
        public static let confirmTimeout = Code("confirm_timeout")
        /// The broker blocked the connection (resource alarm) while the publish awaited its confirm; the
        /// message may still be taken when the alarm clears.
        public static let blocked = Code("blocked")
        /// The broker refused an operation with a channel or connection exception.
        public static let serverException = Code("server_exception")
        /// The broker refused to declare a queue or exchange that exists with another type or other arguments
        /// (406 PRECONDITION_FAILED); the reason says how to migrate. Retrying does not help until someone does.
        public static let topologyMismatch = Code("topology_mismatch")
        /// The acknowledgement belongs to a delivery from a previous connection; the broker redelivers it.
        public static let staleDelivery = Code("stale_delivery")
        /// A URL or configuration value is invalid.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// rabbitmq-c reported a library error.
        public static let library = Code("library_error")
    }

    /// What kind of error this is.
    public var code: Code
    /// A short human-readable explanation without message contents.
    public var reason: String
    /// The AMQP reply code when the broker sent one (e.g. 404, 312, 406).
    public var replyCode: UInt16?

    public init(_ code: Code, _ reason: String, replyCode: UInt16? = nil) {
        self.code = code
        self.reason = reason
        self.replyCode = replyCode
    }

    public var description: String {
        if let replyCode { return "AMQP \(code) (\(replyCode)): \(reason)" }
        return "AMQP \(code): \(reason)"
    }
}
