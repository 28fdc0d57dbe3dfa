import AMQPBridge
import MongoBridge
import Testing

/// Fails loudly when the integration environment is missing, instead of letting tests pass vacuously.
@Suite("Integration environment")
struct EnvironmentGuardTests {
    @Test("a private RabbitMQ node is configured and answers")
    func brokerIsReachable() async throws {
        let url = try TestEnvironment.amqpURL
        let connection = AMQPConnection(configuration: try AMQPConfiguration(url: url), logger: TestEnvironment.logger)
        connection.start()
        var failure: (any Error)?
        do { try await connection.waitUntilConnected(timeout: .seconds(10)) } catch { failure = error }
        await connection.close()
        if let failure { throw failure }
        #expect(!connection.isConnected)
    }

    @Test("the MongoDB wire-protocol test double is configured and answers through libmongoc")
    func mongoDoubleIsReachable() throws {
        let pool = try MongoClientPool(uri: TestEnvironment.mongoURI)
        try pool.ping()
        #expect(try pool.command(database: "admin", #"{"buildInfo": 1}"#).contains("test-double"))
    }
}
