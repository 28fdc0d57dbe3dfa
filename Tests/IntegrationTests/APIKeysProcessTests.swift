import Foundation
import Glibc
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `logpipe keys add` and SIGHUP reloading, with the `logpipe api` executable over real HTTP.
@Suite("API keys in a running API", .timeLimit(.minutes(2)))
struct APIKeysProcessTests {
    func post(port: Int, key: String?, tenant: String) async throws -> Int {
        try await HTTP.postJSON(
            port: port, #"{"tenant_id":"\#(tenant)","text":"hello"}"#,
            headers: key.map { ["Authorization": "Bearer \($0)"] } ?? [:])
    }

    @Test("keys add prints a key once and appends only its hash; SIGHUP makes a running API accept it")
    func addAndReload() async throws {
        let fixture = try await BrokerFixture.start()
        let directory = "/tmp/logpipe-keys-process-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let keysFile = directory + "/keys"

        let first = try await CommandRun.run(["keys", "add", "--tenant", "acme", "--file", keysFile, "--note", "first"], environment: [:])
        #expect(first.status == 0)
        let firstKey = first.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(firstKey.hasPrefix("lpk_") && firstKey.count == 68)
        let contents = try String(contentsOfFile: keysFile, encoding: .utf8)
        #expect(!contents.contains(firstKey) && contents.hasPrefix("sha256:") && contents.contains(" acme  # first"))
        let attributes = try FileManager.default.attributesOfItem(atPath: keysFile)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
        #expect(try APIKeyTable.load(path: keysFile).lookup(firstKey)?.onlyTenant == TenantID("acme"))
        let refused = try await CommandRun.run(["keys", "add", "--file", keysFile], environment: [:])
        #expect(refused.status != 0)

        let port = Int.random(in: 20_000...29_000)
        let api = try WorkerProcess(
            ["api", "--host", "127.0.0.1", "--port", "\(port)"],
            environment: [
                "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
                "LOGPIPE_API_KEYS_FILE": keysFile,
            ], logPath: directory + "/api.log")
        let up = try await eventually(timeout: .seconds(20)) {
            (try? await post(port: port, key: firstKey, tenant: "acme")) == 202
        }
        #expect(up)
        #expect(try await post(port: port, key: nil, tenant: "acme") == 401)
        #expect(try await post(port: port, key: firstKey, tenant: "beta") == 403)

        let second = try await CommandRun.run(["keys", "add", "--tenant", "beta", "--file", keysFile], environment: [:])
        let secondKey = second.output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try await post(port: port, key: secondKey, tenant: "beta") == 401)
        api.signal(SIGHUP)
        let reloaded = try await eventually { try await post(port: port, key: secondKey, tenant: "beta") == 202 }
        #expect(reloaded)
        // A file caught half-written (no final newline) or emptied keeps the keys in force.
        let good = try String(contentsOfFile: keysFile, encoding: .utf8)
        for broken in [String(good.dropLast(10)), ""] {
            try broken.write(toFile: keysFile, atomically: false, encoding: .utf8)
            api.signal(SIGHUP)
            let noted = try await eventually {
                ((try? String(contentsOfFile: directory + "/api.log", encoding: .utf8)) ?? "")
                    .components(separatedBy: "API keys file not reloaded").count > (broken.isEmpty ? 2 : 1)
            }
            #expect(noted)
            #expect(try await post(port: port, key: secondKey, tenant: "beta") == 202)
            #expect(try await post(port: port, key: firstKey, tenant: "acme") == 202)
        }
        let log = try String(contentsOfFile: directory + "/api.log", encoding: .utf8)
        #expect(log.contains("API keys reloaded") && !log.contains(firstKey) && !log.contains(secondKey))

        api.signal(SIGTERM)
        #expect(await api.wait() == 0)
        #expect(try await fixture.readyCount(fixture.topology.workQueue) == 6)
        await fixture.tearDown()
    }

    @Test("SIGHUP to an API without keys does not end it")
    func sighupWithoutKeys() async throws {
        let fixture = try await BrokerFixture.start()
        let directory = "/tmp/logpipe-keys-process-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let port = Int.random(in: 20_000...29_000)
        let api = try WorkerProcess(
            ["api", "--host", "127.0.0.1", "--port", "\(port)"],
            environment: [
                "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
            ], logPath: directory + "/api.log")
        let up = try await eventually(timeout: .seconds(20)) { (try? await post(port: port, key: nil, tenant: "acme")) == 202 }
        #expect(up)
        api.signal(SIGHUP)
        api.signal(SIGHUP)
        #expect(try await post(port: port, key: nil, tenant: "acme") == 202)
        api.signal(SIGTERM)
        #expect(await api.wait() == 0)
        await fixture.tearDown()
    }
}

/// Plain HTTP to a `logpipe` process started by a test.
enum HTTP {
    /// POSTs a JSON body to `/ingest`; returns the status.
    static func postJSON(port: Int, _ body: String, headers: [String: String] = [:]) async throws -> Int {
        var request = URLRequest(url: URL(string: "http://127.0.0.1:\(port)/ingest")!)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        request.httpBody = Data(body.utf8)
        request.timeoutInterval = 10
        let (_, response) = try await URLSession.shared.data(for: request)
        return (response as? HTTPURLResponse)?.statusCode ?? 0
    }
}
