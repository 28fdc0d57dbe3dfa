/// An error from the MongoDB bridge; `description` carries the driver's message, never document contents.
public struct MongoError: Error, Sendable, Hashable, CustomStringConvertible {
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        let value: String
        init(_ value: String) { self.value = value }
        public var description: String { value }

        /// The connection string is not a valid MongoDB URI.
        public static let invalidURI = Code("invalid_uri")
        /// No suitable server answered within `serverSelectionTimeoutMS`, or the connection failed.
        public static let unreachable = Code("unreachable")
        /// The TLS handshake with the server failed (its certificate, `tlsCAFile`, or a server without TLS).
        public static let tlsFailed = Code("tls_failed")
        /// The server refused the credentials of the URI (user, password, `authSource`, mechanism).
        public static let authenticationFailed = Code("authentication_failed")
        /// The server answers but does not take writes (a secondary, or a primary that stepped down).
        public static let notWritablePrimary = Code("not_writable_primary")
        /// The server answered with an error (command failure, write error, write concern error).
        public static let server = Code("server_error")
        /// A document that cannot be encoded as BSON (a NUL in a key, past the size limit): never worth a retry.
        public static let invalidDocument = Code("invalid_document")
    }

    public var code: Code
    public var message: String
    /// The server's or driver's numeric error code, when there is one (e.g. 11000 for a duplicate key).
    public var serverCode: UInt32?

    public init(_ code: Code, _ message: String, serverCode: UInt32? = nil) {
        self.code = code
        self.message = message
        self.serverCode = serverCode
    }

    public var description: String { "MongoDB \(code): \(message)" }

    /// Server codes of a replica set changing its primary: NotWritablePrimary, NotPrimaryNoSecondaryOk,
    /// NotPrimaryOrSecondary, PrimarySteppedDown, InterruptedDueToReplStateChange, ShutdownInProgress,
    /// InterruptedAtShutdown. A write refused with one of them went nowhere: retrying it (the `_id` makes a
    /// repeat harmless) is what the drivers' retryable writes do.
    public static let primaryChangeCodes: Set<UInt32> = [10107, 13435, 13436, 189, 11602, 91, 11600]

    /// True when the server refused because it is not (or no longer) the primary.
    public var isPrimaryChange: Bool {
        code == .notWritablePrimary || serverCode.map(Self.primaryChangeCodes.contains) == true
    }
}
