import Foundation
import Glibc
import LogPipeCore
import MongoBridge
import TestSupport
import Testing

@testable import LogPipeApp

/// SCRAM authentication and TLS against SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB) with
/// the project's throw-away test CA (scripts/make-test-certs.sh): `logpipe worker` takes its credentials from a
/// `_FILE` secret, a wrong password or CA is a named readiness failure and never a crash loop, and no credential
/// reaches the process's output.
@Suite("MongoDB SCRAM and TLS on SecantusDB (an independent MongoDB-wire-protocol server, not MongoDB)", .serialized, .timeLimit(.minutes(4)))
struct MongoAuthTLSTests {
    /// `logpipe worker` on the fixture's broker with its MongoDB URI in a secret file; its output in `log`.
    struct Worker {
        let process: WorkerProcess
        let port: Int
        let log: String

        static func start(uri: String, fixture: BrokerFixture, database: String, directory: String, name: String) throws -> Worker {
            let secret = "\(directory)/\(name).mongo_uri"
            try Data((uri + "\n").utf8).write(to: URL(fileURLWithPath: secret))
            let port = Int.random(in: 20_000...29_000)
            let log = "\(directory)/\(name).log"
            let process = try WorkerProcess(
                ["worker"],
                environment: [
                    "LOGPIPE_MONGO_URI": "", "LOGPIPE_MONGO_URI_FILE": secret, "LOGPIPE_MONGO_DB": database,
                    "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
                    "LOGPIPE_WORKER_HTTP_PORT": "\(port)", "LOGPIPE_RETRY_DELAYS": "200ms", "LOGPIPE_MAX_ATTEMPTS": "50",
                    "LOG_LEVEL": "debug", "LOGPIPE_LOG_FORMAT": "json",
                ], logPath: log)
            return Worker(process: process, port: port, log: log)
        }

        /// The readiness answer's status and body.
        func readiness() async -> (Int, String) {
            let (_, output) = await Shell.run("curl -s --max-time 10 -w ' %{http_code}' http://127.0.0.1:\(port)/readiness")
            let status = Int(output.split(separator: " ").last ?? "") ?? 0
            return (status, output)
        }

        var isRunning: Bool { kill(process.pid, 0) == 0 }

        var output: String { (try? String(contentsOfFile: log, encoding: .utf8)) ?? "" }

        func stop() async -> Int32 {
            process.signal(SIGTERM)
            return await process.wait()
        }
    }

    /// A TLS server of the test's own, with the test CA's server certificate; `body` gets the certificates and
    /// the server.
    func withTLSServer(
        name: String, port: Int, peer: String = "optional", _ body: (TestCertificates, PrivateSecantus) async throws -> Void
    ) async throws {
        let certificates = try await TestCertificates.make()
        defer { try? FileManager.default.removeItem(atPath: certificates.directory) }
        let server = PrivateSecantus(
            name: name, port: port,
            environment: ["LOGPIPE_SECANTUS_TLS_DIR": certificates.directory, "LOGPIPE_SECANTUS_TLS_PEER": peer])
        try? await server.wipe()
        try await server.start()
        do {
            try await body(certificates, server)
        } catch {
            try? await server.wipe()
            throw error
        }
        try await server.wipe()
    }

    static let timeouts = "&serverSelectionTimeoutMS=2000&connectTimeoutMS=2000&socketTimeoutMS=5000"

    @Test(
        "logpipe worker with SCRAM credentials from LOGPIPE_MONGO_URI_FILE over TLS (the test CA) is ready and stores; a wrong password and a wrong CA are readiness 503s naming authentication_failed and tls_failed, the process keeps running, and no password reaches its output, which is all in its log format"
    )
    func credentialsFromFileOverTLS() async throws {
        try await withTLSServer(name: "tls-test", port: 27871) { certificates, server in
            let fixture = try await BrokerFixture.start()
            let database = "auth\(UInt32.random(in: 0...UInt32.max))"
            // An appName of the operator's own, as the docs' Atlas URI has one.
            let uri = try await server.url() + Self.timeouts + "&appName=logpipe-auth-test"
            let password = try server.password()
            #expect(uri.contains("tls=true") && uri.contains("tlsCAFile=\(certificates.ca)") && uri.contains(password))

            let good = try Worker.start(uri: uri, fixture: fixture, database: database, directory: certificates.directory, name: "good")
            let ready = try await eventually(timeout: .seconds(30), every: .milliseconds(200)) { await good.readiness().0 == 200 }
            if !ready { Issue.record("the good worker did not become ready: \(await good.readiness().1)") }
            try await fixture.publishLogs(20, tenant: "acme", prefix: "tls")
            let reader = try MongoLogStore(uri: uri, database: database)
            let stored = try await eventually { try await reader.count(tenant: TenantID("acme")!) == 20 }
            #expect(stored)

            // A wrong password, and the right password with another CA: named, not ready, still running.
            let wrongPassword = "wrong-\(UInt32.random(in: 0...UInt32.max))"
            let cases = [
                ("password", uri.replacingOccurrences(of: ":\(password)@", with: ":\(wrongPassword)@"), "authentication_failed"),
                ("ca", uri.replacingOccurrences(of: "tlsCAFile=\(certificates.ca)", with: "tlsCAFile=\(certificates.otherCA)"), "tls_failed"),
            ]
            var failing: [Worker] = []
            for (name, badURI, code) in cases {
                let worker = try Worker.start(uri: badURI, fixture: fixture, database: database, directory: certificates.directory, name: name)
                failing.append(worker)
                let named = try await eventually(timeout: .seconds(30), every: .milliseconds(200)) {
                    let (status, body) = await worker.readiness()
                    return status == 503 && body.contains(#""failing_check":"store""#) && body.contains(code)
                }
                if !named { Issue.record("\(name): \(await worker.readiness().1)") }
            }
            // Logs keep arriving; the failing workers take some, cannot store them and send them to the retry
            // tiers, from where the good worker stores them: still every log once.
            try await fixture.publishLogs(30, tenant: "acme", prefix: "more")
            let all = try await eventually { try await reader.count(tenant: TenantID("acme")!) == 50 }
            #expect(all)
            for worker in failing {
                let (status, body) = await worker.readiness()
                #expect(status == 503 && worker.isRunning, "the worker gave up or crashed: \(body)")
                #expect(!body.contains(password) && !body.contains(wrongPassword))
            }
            for worker in [good] + failing {
                #expect(await worker.stop() == 0)
                let output = worker.output
                #expect(!output.isEmpty)
                #expect(!output.contains(password), "the password reached the output of \(worker.log)")
                #expect(!output.contains(wrongPassword), "the wrong password reached the output of \(worker.log)")
                // Every line is the process's own JSON, the driver's lines among them (libmongoc printed its own
                // format to stderr, and an error line about the appName, before).
                let foreign = output.split(separator: "\n").filter { line in
                    (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] == nil
                }
                #expect(foreign.isEmpty, "lines not in the log format: \(foreign.prefix(3))")
                #expect(!output.contains("Cannot set appname"))
            }
            await fixture.tearDown()
        }
    }

    @Test(
        "a server that requires client certificates refuses a client without one (the readiness failure names tlsCertificateKeyFile) and takes one signed by the test CA"
    )
    func clientCertificates() async throws {
        try await withTLSServer(name: "mtls-test", port: 27872, peer: "required") { certificates, server in
            let uri = try await server.url() + Self.timeouts
            let anonymous = try MongoLogStore(uri: uri, database: "mtls")
            do throws(StoreError) {
                try await anonymous.ping()
                Issue.record("the server took a client without a certificate")
            } catch {
                #expect(error.message.contains("tlsCertificateKeyFile"), "the failure names the missing client certificate: \(error)")
            }
            // libmongoc wants the certificate and its key in one PEM file.
            let combined = certificates.file("client-combined.pem")
            let pem =
                try String(contentsOfFile: certificates.file("client.pem"), encoding: .utf8)
                + String(contentsOfFile: certificates.file("client-key.pem"), encoding: .utf8)
            try Data(pem.utf8).write(to: URL(fileURLWithPath: combined))
            let client = try MongoLogStore(uri: uri + "&tlsCertificateKeyFile=\(combined)", database: "mtls")
            try await client.ping()
            let log = StoredLog(
                logID: "m-1", tenantID: TenantID("acme")!, text: "over mutual TLS", redactions: [:],
                receivedAt: "2026-12-01T10:00:00.000Z", processedAt: "2026-12-01T10:00:00.000Z", requestID: "r")
            #expect(try await client.write([log]) == StoreWriteResult(stored: 1, duplicates: 0))
            #expect(try await client.get(tenant: TenantID("acme")!, logID: "m-1")?.text == "over mutual TLS")
        }
    }
}
