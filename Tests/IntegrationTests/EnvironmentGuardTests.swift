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

    @Test(
        "SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB) is configured and answers through libmongoc, as the application user and as root"
    )
    func secantusIsReachable() throws {
        let pool = try MongoClientPool(uri: TestEnvironment.mongoURI)
        try pool.ping()
        #expect(try pool.command(database: "admin", [BSONField("buildInfo", .int32(1))])["secantusVersion"] != nil)
        try MongoClientPool(uri: FailCommand.adminURI).ping()
    }
}
