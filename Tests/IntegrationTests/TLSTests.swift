import AMQPBridge
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeApp
import LogPipeCore
import Logging
import TestSupport
import Testing

/// A throw-away CA and certificates (scripts/make-test-certs.sh) in a directory of the test's own.
struct TestCertificates {
    let directory: String
    var ca: String { directory + "/ca.pem" }
    var otherCA: String { directory + "/other-ca.pem" }
    func file(_ name: String) -> String { directory + "/" + name }

    static func make() async throws -> TestCertificates {
        let directory = "/tmp/logpipe-tls-tests/\(UUID().uuidString)"
        let script = TestEnvironment.repositoryRoot.appendingPathComponent("scripts/make-test-certs.sh").path
        let (status, output) = await Shell.run("bash '\(script)' '\(directory)'")
        guard status == 0 else { throw PrivateBroker.ScriptFailed(description: "make-test-certs.sh: \(output)") }
        return TestCertificates(directory: directory)
    }
}

/// `/bin/sh -c` on a thread of its own (never on the cooperative pool): exit status and combined output.
enum Shell {
    static func run(_ line: String) async -> (Int32, String) {
        let output = "/tmp/logpipe-shell-\(UUID().uuidString).out"
        let status: Int32 = await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: PrivateBroker.system("\(line) > '\(output)' 2>&1")) }.start()
        }
        defer { try? FileManager.default.removeItem(atPath: output) }
        return (status, (try? String(contentsOfFile: output, encoding: .utf8)) ?? "")
    }
}

/// amqps:// against a private RabbitMQ node with a TLS listener, and the API's HTTPS listener, with real
/// certificates from a throw-away CA.
@Suite("TLS: amqps and HTTPS", .serialized, .timeLimit(.minutes(3)))
struct TLSTests {
    static let queue = "tls.test"

    /// The node's AMQP port (its TLS listener is the next one).
    static func port(_ variable: String, _ fallback: Int) -> Int {
        Int(ProcessInfo.processInfo.environment[variable] ?? "") ?? fallback
    }

    func connection(_ url: String, _ configure: (inout AMQPConfiguration) -> Void = { _ in }) throws -> AMQPConnection {
        var amqp = try AMQPConfiguration(url: url)
        amqp.connectTimeout = .seconds(3)
        amqp.maxReconnectDelay = .milliseconds(500)
        configure(&amqp)
        let connection = AMQPConnection(
            configuration: amqp, topology: AMQPTopology(queues: [.init(name: Self.queue, durable: false)]),
            logger: TestEnvironment.logger)
        connection.start()
        return connection
    }

    /// Waits until the connection has failed at least once; returns its last error.
    func failure(of connection: AMQPConnection) async throws -> AMQPError? {
        _ = try await eventually(timeout: .seconds(15)) { connection.lastError != nil }
        #expect(!connection.isConnected)
        return connection.lastError
    }

    func roundTrip(_ connection: AMQPConnection, _ text: String) async throws -> String? {
        try await connection.waitUntilConnected(timeout: .seconds(15))
        try await connection.publish(
            exchange: "", routingKey: Self.queue, body: Array(text.utf8),
            properties: AMQPProperties(deliveryMode: 2, messageID: UUID().uuidString))
        guard let delivery = try await connection.get(Self.queue) else { return nil }
        try await connection.ack(delivery.receipt)
        return String(decoding: delivery.body, as: UTF8.self)
    }

    func withTLSBroker(name: String, port: Int, peer: String, _ body: (TestCertificates, Int) async throws -> Void) async throws {
        let certificates = try await TestCertificates.make()
        var broker = PrivateBroker(name: name, port: port)
        broker.environment = [
            "LOGPIPE_BROKER_TLS_PORT": "\(port + 1)", "LOGPIPE_BROKER_TLS_DIR": certificates.directory,
            "LOGPIPE_BROKER_TLS_PEER": peer,
        ]
        try? await broker.wipe()
        try await broker.start()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        do {
            try await body(certificates, port + 1)
        } catch {
            try? await broker.wipe()
            throw error
        }
        try await broker.wipe()
    }

    @Test(
        "amqps: publish and consume with the broker verified against the CA; a wrong CA, a wrong host name and plain TCP on the TLS port are refused with the reason, and the API answers 503"
    )
    func amqps() async throws {
        try await withTLSBroker(name: "tls-test", port: Self.port("LOGPIPE_TEST_TLS_PORT", 5750), peer: "optional") { certificates, tlsPort in
            let good = try connection("amqps://guest:guest@localhost:\(tlsPort)/") { $0.tls.caFile = certificates.ca }
            #expect(good.configuration.endpoints[0].tls)
            #expect(try await roundTrip(good, "over TLS") == "over TLS")
            #expect(good.endpoint?.address == "localhost:\(tlsPort)")
            await good.close()

            // Another CA: the chain check fails, the connection never opens, and the API says 503 with the reason.
            let untrusted = try connection("amqps://guest:guest@localhost:\(tlsPort)/") { $0.tls.caFile = certificates.otherCA }
            let chain = try await failure(of: untrusted)
            #expect(chain?.code == .tlsFailed)
            #expect(chain?.reason.contains("does not chain") == true, "\(chain?.reason ?? "")")
            var configuration = LogPipeConfiguration()
            configuration.amqp.namespace = TestEnvironment.uniqueNamespace("tls")
            configuration.amqp.confirmTimeout = .seconds(1)
            let app = Application(
                router: IngestAPI(
                    publisher: AMQPLogPublisher(connection: untrusted, topology: Topology(namespace: configuration.amqp.namespace)),
                    configuration: configuration
                ).router())
            try await app.test(.router) { client in
                let status = try await client.execute(
                    uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: #"{"tenant_id":"acme","text":"must not be accepted"}"#)
                ) { Int($0.status.code) }
                #expect(status == 503)
                let (readiness, body) = try await client.execute(uri: "/readiness", method: .get) {
                    (Int($0.status.code), String(buffer: $0.body))
                }
                #expect(readiness == 503)
                #expect(body.contains("broker") && body.contains("TLS"), "\(body)")
            }
            await untrusted.close()

            // The right CA but a name the certificate does not hold.
            let wrongName = try connection("amqps://guest:guest@127.0.0.1:\(tlsPort)/") { $0.tls.caFile = certificates.ca }
            let name = try await failure(of: wrongName)
            #expect(name?.code == .tlsFailed && name?.reason.contains("does not name this host") == true, "\(name?.reason ?? "")")
            await wrongName.close()

            // Verification off (the explicit opt-out) connects to the same broker with the unrelated CA.
            let unverified = try connection("amqps://guest:guest@127.0.0.1:\(tlsPort)/") {
                $0.tls.caFile = certificates.otherCA
                $0.tls.verify = false
            }
            #expect(try await roundTrip(unverified, "unverified") == "unverified")
            await unverified.close()

            // No fallback either way: plain AMQP to the TLS port and TLS to the plain port both fail.
            let plainToTLS = try connection("amqp://guest:guest@localhost:\(tlsPort)/")
            #expect(try await failure(of: plainToTLS)?.code == .connectFailed)
            await plainToTLS.close()
            let tlsToPlain = try connection("amqps://guest:guest@localhost:\(tlsPort - 1)/") { $0.tls.caFile = certificates.ca }
            #expect(try await failure(of: tlsToPlain)?.code == .tlsFailed)
            await tlsToPlain.close()
        }
    }

    @Test("mutual TLS: a broker that requires a client certificate refuses a client without one and takes one signed by its CA")
    func mutualTLS() async throws {
        try await withTLSBroker(name: "mtls-test", port: Self.port("LOGPIPE_TEST_MTLS_PORT", 5752), peer: "required") { certificates, tlsPort in
            let anonymous = try connection("amqps://guest:guest@localhost:\(tlsPort)/") { $0.tls.caFile = certificates.ca }
            let refused = try await failure(of: anonymous)
            #expect(refused?.code == .tlsFailed && refused?.reason.contains("client certificate") == true, "\(refused?.reason ?? "")")
            await anonymous.close()
            let client = try connection("amqps://guest:guest@localhost:\(tlsPort)/") {
                $0.tls.caFile = certificates.ca
                $0.tls.certificateFile = certificates.file("client.pem")
                $0.tls.keyFile = certificates.file("client-key.pem")
            }
            #expect(try await roundTrip(client, "mutual") == "mutual")
            await client.close()
        }
    }

    @Test(
        "the HTTPS listener serves /health and /ingest to curl --cacert, refuses plain HTTP, and a reload switches certificates (a broken file keeps the old one)"
    )
    func httpsListener() async throws {
        let certificates = try await TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let served = certificates.file("served.pem"), servedKey = certificates.file("served-key.pem")
        try FileManager.default.copyItem(atPath: certificates.file("server.pem"), toPath: served)
        try FileManager.default.copyItem(atPath: certificates.file("server-key.pem"), toPath: servedKey)
        let store = try TLSCertificateStore(certificateFile: served, keyFile: servedKey)
        var configuration = LogPipeConfiguration()
        configuration.http.host = "127.0.0.1"
        configuration.http.port = 0
        let publisher = RecordingPublisher()  // the HTTPS test needs no broker
        var logger = Logger(label: "https-test")
        logger.logLevel = .critical
        let app = IngestAPI(publisher: publisher, configuration: configuration).application(configuration: configuration, logger: logger, tls: store)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            func curl(_ arguments: String) async -> (Int32, String) {
                await Shell.run("curl -sS --max-time 10 --resolve localhost:\(port):127.0.0.1 \(arguments)")
            }
            let health = await curl("--cacert '\(certificates.ca)' https://localhost:\(port)/health")
            #expect(health.0 == 0 && health.1.contains(#""status":"ok""#), "\(health.1)")
            let ingest = await curl(
                "--cacert '\(certificates.ca)' -w ' %{http_code}' -H 'Content-Type: application/json' "
                    + #"-d '{"tenant_id":"acme","text":"over https"}' "# + "https://localhost:\(port)/ingest")
            #expect(ingest.0 == 0 && ingest.1.hasSuffix(" 202"), "\(ingest.1)")
            #expect(publisher.records.count == 1)
            let plain = await curl("http://localhost:\(port)/health")
            #expect(plain.0 != 0 || !plain.1.contains(#""status":"ok""#), "plain HTTP was served: \(plain.1)")
            let otherCA = await curl("--cacert '\(certificates.otherCA)' https://localhost:\(port)/health")
            #expect(otherCA.0 != 0, "a client trusting another CA accepted the certificate")

            // Renewal: the files now hold a certificate of the other CA; after the reload new connections get it.
            try FileManager.default.removeItem(atPath: served)
            try FileManager.default.removeItem(atPath: servedKey)
            try FileManager.default.copyItem(atPath: certificates.file("other-server.pem"), toPath: served)
            try FileManager.default.copyItem(atPath: certificates.file("other-server-key.pem"), toPath: servedKey)
            try store.reload()
            let renewed = await curl("--cacert '\(certificates.otherCA)' https://localhost:\(port)/health")
            #expect(renewed.0 == 0 && renewed.1.contains(#""status":"ok""#), "\(renewed.1)")
            // A half-written renewal does not load, and the certificate in use stays.
            try Data("-----BEGIN CERTIFICATE-----\nnot base64\n".utf8).write(to: URL(fileURLWithPath: served))
            #expect(throws: ConfigurationError.self) { try store.reload() }
            let still = await curl("--cacert '\(certificates.otherCA)' https://localhost:\(port)/health")
            #expect(still.0 == 0, "\(still.1)")
        }
    }

    @Test("logpipe api with its broker URL from a _FILE secret serves HTTPS; SIGHUP makes it serve the renewed certificate")
    func httpsProcessReloadsOnHangup() async throws {
        let fixture = try await BrokerFixture.start()
        let certificates = try await TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let served = certificates.file("served.pem"), servedKey = certificates.file("served-key.pem")
        try FileManager.default.copyItem(atPath: certificates.file("server.pem"), toPath: served)
        try FileManager.default.copyItem(atPath: certificates.file("server-key.pem"), toPath: servedKey)
        let secret = certificates.file("amqp_url")
        try Data((fixture.configuration.amqp.url + "\n").utf8).write(to: URL(fileURLWithPath: secret))
        let port = Int.random(in: 20_000...29_000)
        let api = try WorkerProcess(
            ["api", "--host", "127.0.0.1", "--port", "\(port)"],
            environment: [
                "LOGPIPE_AMQP_URL": "", "LOGPIPE_AMQP_URL_FILE": secret, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
                "LOGPIPE_HTTP_TLS_CERT_FILE": served, "LOGPIPE_HTTP_TLS_KEY_FILE": servedKey,
            ], logPath: certificates.file("api.log"))
        func curl(_ ca: String, _ path: String = "/readiness") async -> (Int32, String) {
            await Shell.run("curl -sS --max-time 5 --cacert '\(ca)' --resolve localhost:\(port):127.0.0.1 https://localhost:\(port)\(path)")
        }
        let up = try await eventually(timeout: .seconds(30)) { await curl(certificates.ca).1.contains(#""status":"ready""#) }
        #expect(up, "the API did not become ready over HTTPS")
        try FileManager.default.removeItem(atPath: served)
        try FileManager.default.removeItem(atPath: servedKey)
        try FileManager.default.copyItem(atPath: certificates.file("other-server.pem"), toPath: served)
        try FileManager.default.copyItem(atPath: certificates.file("other-server-key.pem"), toPath: servedKey)
        api.signal(SIGHUP)
        let renewed = try await eventually(timeout: .seconds(20)) { await curl(certificates.otherCA, "/health").0 == 0 }
        #expect(renewed, "SIGHUP did not switch the certificate")
        #expect(await curl(certificates.ca, "/health").0 != 0, "the old certificate is still served")
        api.signal(SIGTERM)
        #expect(await api.wait() == 0)
        let log = (try? String(contentsOfFile: certificates.file("api.log"), encoding: .utf8)) ?? ""
        #expect(log.contains("HTTPS certificate reloaded"))
        #expect(!log.contains(":guest@"), "the broker password reached the log")
        await fixture.tearDown()
    }
}
