import AMQPBridge
import ServiceLifecycle

/// Runs an ``AMQPConnection`` as a `Service`: starts its thread, and on graceful shutdown closes it (after
/// the services started later, such as the HTTP server, have stopped).
public struct AMQPConnectionService: Service {
    public let connection: AMQPConnection

    public init(connection: AMQPConnection) { self.connection = connection }

    public func run() async throws {
        connection.start()
        try? await gracefulShutdown()
        await connection.close()
    }
}
