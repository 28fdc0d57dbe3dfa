import CMongoC
import Foundation

/// A thread-safe pool of libmongoc clients for one connection string.
///
/// Every method blocks (network I/O): call them from a dedicated thread, never from an event loop or the
/// cooperative pool. `mongoc_client_pool_t` is thread-safe; each operation pops a client, uses it on the
/// calling thread only, and pushes it back, which is why this type may be `@unchecked Sendable`.
public final class MongoClientPool: @unchecked Sendable {
    private let uri: OpaquePointer
    private let pool: OpaquePointer

    /// Validates the URI and creates the pool; no connection is made until the first operation. Clients introduce
    /// themselves as `applicationName` unless the URI names one (`appName=`).
    public init(uri text: String, applicationName: String = "logpipe") throws {
        Self.initialiseDriver
        var error = bson_error_t()
        guard let uri = mongoc_uri_new_with_error(text, &error) else {
            // The driver's message may quote the URI (and its password): keep only a generic reason.
            throw MongoError(.invalidURI, "the MongoDB connection string is not valid (expected mongodb://host[:port]/…)")
        }
        guard let pool = mongoc_client_pool_new(uri) else {
            mongoc_uri_destroy(uri)
            throw MongoError(.invalidURI, "the MongoDB connection string was refused by the driver")
        }
        self.uri = uri
        self.pool = pool
        _ = mongoc_client_pool_set_error_api(pool, 2)
        // An `appName` of the URI stands (the driver sets it itself, and a second name would be refused with an error
        // line of the driver's on stderr).
        if mongoc_uri_get_appname(uri) == nil { _ = mongoc_client_pool_set_appname(pool, applicationName) }
    }

    /// The pool is destroyed on a thread of its own: `mongoc_client_pool_destroy` ends the server sessions with a
    /// command that waits for server selection (30 s by default) when the server is gone, and the last reference
    /// may be dropped on an event loop or the Swift pool.
    deinit {
        let handles = Handles(pool: pool, uri: uri)
        Thread.detachNewThread {
            mongoc_client_pool_destroy(handles.pool)
            mongoc_uri_destroy(handles.uri)
        }
    }

    /// The driver's handles, moved to the thread that destroys them; nothing else holds them by then.
    private struct Handles: @unchecked Sendable {
        let pool: OpaquePointer
        let uri: OpaquePointer
    }

    /// `mongoc_init` exactly once per process.
    private static let initialiseDriver: Void = { mongoc_init() }()

    /// Runs `body` with a client popped from the pool, on the calling thread.
    func withClient<Result>(_ body: (OpaquePointer) throws -> Result) rethrows -> Result {
        let client = mongoc_client_pool_pop(pool)!
        defer { mongoc_client_pool_push(pool, client) }
        return try body(client)
    }

    /// Asks the server the driver selects for writes whether it takes writes (`hello`, or `isMaster` on servers
    /// older than MongoDB 4.4.2): succeeds when a writable primary is reachable and answering. With a
    /// `replicaSet=` URI the driver selects the primary itself (no primary within `serverSelectionTimeoutMS`
    /// is `unreachable`); with a direct connection to a member that is not primary it is `notWritablePrimary`.
    public func ping() throws {
        let reply: [BSONField]
        do {
            reply = try command(database: "admin", [BSONField("hello", .int32(1))])
        } catch let error as MongoError where error.serverCode == 59 {  // CommandNotFound: before hello existed
            reply = try command(database: "admin", [BSONField("isMaster", .int32(1))])
        } catch var error as MongoError
            where error.code == .unreachable && clientCertificateMissing && !error.message.contains("Connection refused")
        {
            // Over TLS 1.3 the client's side of the handshake ends before the server checks the client's
            // certificate: a server that requires one drops the connection, which the driver reports as a reset or
            // a failed read, not as TLS.
            error.message += " (TLS without tlsCertificateKeyFile: a server that requires client certificates drops such connections)"
            throw error
        }
        let writable = reply["isWritablePrimary"] ?? reply["ismaster"]
        guard case .bool(true)? = writable else {
            let setName = reply["setName"].flatMap { if case .string(let name) = $0 { name } else { nil } }
            throw MongoError(
                .notWritablePrimary,
                "the server answers but is not a writable primary"
                    + (setName.map { " of replica set \($0) (an election in progress, or a secondary)" } ?? ""))
        }
    }

    /// TLS is on and no client certificate is configured.
    private var clientCertificateMissing: Bool {
        mongoc_uri_get_tls(uri) && mongoc_uri_get_option_as_utf8(uri, "tlscertificatekeyfile", nil) == nil
    }

    /// Classifies a driver error: server selection and stream errors are `unreachable`.
    static func error(_ error: bson_error_t) -> MongoError {
        let unreachableDomains: Set<UInt32> = [UInt32(MONGOC_ERROR_SERVER_SELECTION.rawValue), UInt32(MONGOC_ERROR_STREAM.rawValue)]
        let text = error.text
        var code: MongoError.Code = unreachableDomains.contains(error.domain) ? .unreachable : .server
        // Named failures an operator fixes in the URI or the certificates, not by waiting. Server selection
        // wraps them, so their text says which.
        // Only connection-level errors are read this way: a command's or a write's text may quote anything.
        let connecting = unreachableDomains.contains(error.domain) || error.domain == UInt32(MONGOC_ERROR_CLIENT.rawValue)
        if error.domain == UInt32(MONGOC_ERROR_CLIENT.rawValue) && error.code == UInt32(MONGOC_ERROR_CLIENT_AUTHENTICATE.rawValue)
            || error.code == 18  // AuthenticationFailed, from the server
            || connecting && text.contains("Authentication failed")
        {
            code = .authenticationFailed
        } else if connecting && (text.contains("TLS") || text.contains("SSL")) {
            code = .tlsFailed
        }
        return MongoError(code, text, serverCode: error.code)
    }
}
