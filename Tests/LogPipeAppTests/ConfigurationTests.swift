import AMQPBridge
import Foundation
import LogPipeCore
import Logging
import Testing

@testable import LogPipeApp

@Suite("Configuration from the environment")
struct ConfigurationTests {
    @Test("defaults when nothing is set")
    func defaults() throws {
        let configuration = try LogPipeConfiguration(environment: [:])
        #expect(configuration == LogPipeConfiguration())
        #expect(configuration.amqp.url == "amqp://guest:guest@127.0.0.1:5672/")
        #expect(configuration.http.port == 8000)
        #expect(configuration.amqp.namespace == "logpipe")
        #expect(configuration.store.mongoURI == nil)
        #expect(configuration.maxLogBytes == 262_144)
        #expect(configuration.limits.maxRequestBytes == 8_388_608)
    }

    @Test("every variable is read")
    func variables() throws {
        let configuration = try LogPipeConfiguration(environment: [
            "LOGPIPE_AMQP_URL": "amqp://u:p@rabbit:5673/v", "LOGPIPE_NAMESPACE": "staging", "LOGPIPE_HTTP_HOST": "127.0.0.1",
            "LOGPIPE_HTTP_PORT": "9000", "LOGPIPE_MAX_LOG_BYTES": "1000", "LOGPIPE_MAX_REQUEST_BYTES": "5000",
            "LOGPIPE_CONFIRM_TIMEOUT_MS": "1500", "LOGPIPE_AMQP_HEARTBEAT": "30", "LOGPIPE_PREFETCH": "50",
            "LOGPIPE_MONGO_URI": "mongodb://m/", "LOGPIPE_MONGO_DB": "logs", "LOGPIPE_SQLITE_PATH": "/tmp/x.sqlite",
            "LOG_LEVEL": "DEBUG", "LOGPIPE_RETRY_DELAYS": "100ms,2s", "LOGPIPE_MAX_ATTEMPTS": "3",
        ])
        #expect(configuration.retryPolicy == RetryPolicy(delays: [.milliseconds(100), .seconds(2)], maxAttempts: 3))
        #expect(configuration.amqp.url == "amqp://u:p@rabbit:5673/v")
        #expect(configuration.amqp.namespace == "staging")
        #expect(configuration.http.host == "127.0.0.1")
        #expect(configuration.http.port == 9000)
        #expect(configuration.maxLogBytes == 1000)
        #expect(configuration.limits.maxRequestBytes == 5000)
        #expect(configuration.amqp.confirmTimeout == .milliseconds(1500))
        #expect(configuration.amqp.heartbeatSeconds == 30)
        #expect(configuration.worker.prefetch == 50)
        #expect(configuration.store.mongoURI == "mongodb://m/")
        #expect(configuration.store.mongoDatabase == "logs")
        #expect(configuration.store.sqlitePath == "/tmp/x.sqlite")
        #expect(configuration.logLevel == .debug)
    }

    @Test("grouping of publishes: one message in flight per tenant by default, 0 turns it off")
    func coalescing() throws {
        #expect(LogPipeConfiguration().publisher.coalesceInFlight == 1)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_COALESCE_IN_FLIGHT": "0"]).publisher.coalesceInFlight == 0)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_COALESCE_IN_FLIGHT": "4"]).publisher.coalesceInFlight == 4)
    }

    @Test("bounded memory: 4 MiB of request bodies in work and 250 prefetched messages by default")
    func memoryBounds() throws {
        #expect(LogPipeConfiguration().limits.maxInFlightBytes == 4 << 20)
        #expect(LogPipeConfiguration().worker.prefetch == 250)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_MAX_INFLIGHT_BYTES": "65536"]).limits.maxInFlightBytes == 65536)
        #expect(LogPipeConfiguration().limits.maxWorkBacklog == 0)  // pacing to the workers is opt-in
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_MAX_WORK_BACKLOG": "2000"]).limits.maxWorkBacklog == 2000)
    }

    @Test("empty variables count as unset")
    func emptyIsUnset() throws {
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_HTTP_PORT": "", "LOGPIPE_MONGO_URI": ""]) == LogPipeConfiguration())
    }

    @Test(
        "invalid values name the variable and never echo a secret",
        arguments: [
            ("LOGPIPE_HTTP_PORT", "eighty"), ("LOGPIPE_HTTP_PORT", "70000"), ("LOGPIPE_PREFETCH", "0"),
            ("LOG_LEVEL", "loud"), ("LOGPIPE_NAMESPACE", "a b"), ("LOGPIPE_AMQP_URL", "http://u:hunter2@h/"),
            ("LOGPIPE_CONFIRM_TIMEOUT_MS", "-1"), ("LOGPIPE_RETRY_DELAYS", "soon"), ("LOGPIPE_MAX_ATTEMPTS", "0"),
            ("LOGPIPE_MONGO_WRITE_CONCERN", "0"), ("LOGPIPE_BODY_TIMEOUT_S", "0"), ("LOGPIPE_BODY_TIMEOUT_S", "1e300"), ("LOGPIPE_HTTP_IDLE_TIMEOUT_S", "-3"),
            ("LOGPIPE_COALESCE_IN_FLIGHT", "-1"), ("LOGPIPE_MAX_INFLIGHT_BYTES", "12"), ("LOGPIPE_RETENTION", "a month"),
            ("LOGPIPE_RETENTION", "0d"), ("LOGPIPE_RETENTION", "500ms"), ("LOGPIPE_RETENTION_SWEEP_S", "0"),
            ("LOGPIPE_QUEUE_TYPE", "mirrored"), ("LOGPIPE_WORK_SHARDS", "0"), ("LOGPIPE_WORK_SHARDS", "257"), ("LOGPIPE_DELIVERY_LIMIT", "0"),
            ("LOGPIPE_CONSUME_SHARDS", "0,x"), ("LOGPIPE_CONSUME_SHARDS", "1"), ("LOGPIPE_AMQP_URL", "amqp://u:hunter2@h/,"),
        ])
    func invalid(_ variable: String, _ value: String) {
        do {
            _ = try LogPipeConfiguration(environment: [variable: value])
            Issue.record("accepted \(variable)")
        } catch {
            #expect(error.variable == variable)
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test("scale-out: LOGPIPE_QUEUE_TYPE, LOGPIPE_WORK_SHARDS, LOGPIPE_CONSUME_SHARDS, LOGPIPE_DELIVERY_LIMIT, a URL list")
    func scaleOut() throws {
        let configuration = try LogPipeConfiguration(environment: [
            "LOGPIPE_QUEUE_TYPE": "Quorum", "LOGPIPE_WORK_SHARDS": "4", "LOGPIPE_CONSUME_SHARDS": "3, 1", "LOGPIPE_DELIVERY_LIMIT": "9",
            "LOGPIPE_AMQP_URL": "amqp://a:b@n1:5672/,amqp://a:b@n2:5672/", "LOGPIPE_NAMESPACE": "lp",
        ])
        #expect(configuration.topology.queueType == .quorum && configuration.topology.workShards == 4)
        #expect(configuration.topology.deliveryLimit == 9)
        #expect(configuration.consumedQueues == ["lp.work.1", "lp.work.3"])
        #expect(try configuration.amqpConfiguration(connectionName: "x").endpoints.map(\.address) == ["n1:5672", "n2:5672"])
        let defaults = try LogPipeConfiguration(environment: [:])
        #expect(defaults.topology.queueType == .classic && defaults.consumedQueues == ["logpipe.work"])
    }

    @Test("retention, secret keys and the tenants file: LOGPIPE_RETENTION, LOGPIPE_SECRET_KEYS, LOGPIPE_TENANTS_FILE")
    func retentionAndSecrets() throws {
        let configuration = try LogPipeConfiguration(environment: [
            "LOGPIPE_RETENTION": "30d", "LOGPIPE_SECRET_KEYS": "pin, otp ,", "LOGPIPE_TENANTS_FILE": "/etc/logpipe/tenants.json",
            "LOGPIPE_RETENTION_SWEEP_S": "5",
        ])
        #expect(configuration.store.retention == .seconds(30 * 86_400))
        #expect(configuration.secretKeys == ["pin", "otp"])
        #expect(configuration.tenantsFile == "/etc/logpipe/tenants.json")
        #expect(configuration.store.retentionSweepInterval == .seconds(5))
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_RETENTION": "forever"]).store.retention == nil)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_TENANT_LIMITS_FILE": "/x.json"]).tenantsFile == "/x.json")
        #expect(throws: ConfigurationError.self) {
            try LogPipeConfiguration(environment: ["LOGPIPE_TENANTS_FILE": "/a.json", "LOGPIPE_TENANT_LIMITS_FILE": "/b.json"])
        }
    }

    @Test(
        "every variable may come from <NAME>_FILE: the file's content, one trailing newline trimmed; both at once, or a missing file, is an error that shows no content"
    )
    func secretsFromFiles() throws {
        let directory = "/tmp/logpipe-config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let url = directory + "/amqp_url", mongo = directory + "/mongo_uri", keys = directory + "/keys_path"
        try Data("amqps://logpipe:s3cret@broker:5671/\n".utf8).write(to: URL(fileURLWithPath: url))
        try Data("mongodb://app:pw@db/?tls=true".utf8).write(to: URL(fileURLWithPath: mongo))
        try Data("/etc/logpipe/keys\n".utf8).write(to: URL(fileURLWithPath: keys))
        let configuration = try LogPipeConfiguration(environment: [
            "LOGPIPE_AMQP_URL_FILE": url, "LOGPIPE_MONGO_URI_FILE": mongo, "LOGPIPE_API_KEYS_FILE_FILE": keys,
        ])
        #expect(configuration.amqp.url == "amqps://logpipe:s3cret@broker:5671/")
        #expect(configuration.store.mongoURI == "mongodb://app:pw@db/?tls=true")
        #expect(configuration.http.apiKeysFile == "/etc/logpipe/keys", "a variable that names a file has a _FILE form too")
        do {
            _ = try LogPipeConfiguration(environment: ["LOGPIPE_AMQP_URL_FILE": url, "LOGPIPE_AMQP_URL": "amqp://x"])
            Issue.record("both accepted")
        } catch {
            #expect(error.variable == "LOGPIPE_AMQP_URL_FILE" && error.message.contains("both"))
        }
        do {
            _ = try LogPipeConfiguration(environment: ["LOGPIPE_MONGO_URI_FILE": directory + "/missing"])
            Issue.record("a missing file accepted")
        } catch {
            #expect(error.message.contains("cannot be read"))
        }
        // An empty secret (not yet written) is an error, not "unset": that would turn API keys off.
        let empty = directory + "/empty"
        try Data("\n".utf8).write(to: URL(fileURLWithPath: empty))
        do {
            _ = try LogPipeConfiguration(environment: ["LOGPIPE_API_KEYS_FILE_FILE": empty])
            Issue.record("an empty secret file accepted")
        } catch {
            #expect(error.variable == "LOGPIPE_API_KEYS_FILE_FILE" && error.message.contains("empty"))
        }
        // A bad value read from a file is reported by the variable, never with the file's content.
        try Data("amqp://u:s3cret@h:99999/".utf8).write(to: URL(fileURLWithPath: url))
        do {
            _ = try LogPipeConfiguration(environment: ["LOGPIPE_AMQP_URL_FILE": url])
            Issue.record("a bad URL accepted")
        } catch {
            #expect(!error.description.contains("s3cret"))
        }
    }

    @Test("TLS settings: the CA, the client certificate with its key (both or neither), verification as an explicit opt-out, and HTTPS files")
    func tlsSettings() throws {
        let directory = "/tmp/logpipe-config-tests-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pem = directory + "/x.pem"
        try Data("not checked here".utf8).write(to: URL(fileURLWithPath: pem))
        let configuration = try LogPipeConfiguration(environment: [
            "LOGPIPE_AMQP_URL": "amqps://u:p@broker/", "LOGPIPE_AMQP_CA_FILE": pem, "LOGPIPE_AMQP_CERT_FILE": pem, "LOGPIPE_AMQP_KEY_FILE": pem,
            "LOGPIPE_AMQP_TLS_VERIFY": "false", "LOGPIPE_HTTP_TLS_CERT_FILE": pem, "LOGPIPE_HTTP_TLS_KEY_FILE": pem,
        ])
        let amqp = try configuration.amqpConfiguration(connectionName: "x")
        #expect(amqp.tls == AMQPTLSOptions(caFile: pem, certificateFile: pem, keyFile: pem, verify: false))
        #expect(configuration.http.tlsCertificateFile == pem && configuration.http.tlsKeyFile == pem)
        #expect(try LogPipeConfiguration(environment: [:]).amqp.tls.verify)
        for bad: [String: String] in [
            ["LOGPIPE_AMQP_CERT_FILE": pem], ["LOGPIPE_AMQP_KEY_FILE": pem], ["LOGPIPE_AMQP_CA_FILE": directory + "/none.pem"],
            ["LOGPIPE_AMQP_TLS_VERIFY": "maybe"], ["LOGPIPE_HTTP_TLS_CERT_FILE": pem],
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try LogPipeConfiguration(environment: bad) }
        }
    }

    @Test("the table of settings names each variable once, and each default written as its variable's text reads back as the default")
    func settingsTable() throws {
        let names = LogPipeConfiguration.settings.map(\.variable)
        #expect(names.count == Set(names).count, "a variable in the table twice")
        #expect(LogPipeConfiguration.variables == Set(names))
        let defaults = LogPipeConfiguration()
        var written = 0
        for setting in LogPipeConfiguration.settings {
            guard let text = setting.text(defaults) else { continue }
            written += 1
            #expect(try LogPipeConfiguration(environment: [setting.variable: text]) == defaults, "\(setting.variable)=\(text)")
        }
        #expect(written > 35)
    }

    @Test("the tenants file: retention (a duration or forever) and secret_keys per tenant, beside the rate limits")
    func tenantSettings() throws {
        let file = Data(#"{"acme": {"rate": 50, "retention": "7d", "secret_keys": ["pin"]}, "audit": {"retention": "forever"}}"#.utf8)
        let settings = try TenantSettings.parse(file)
        #expect(settings.retention[TenantID("acme")!] == .some(.seconds(7 * 86_400)))
        #expect(settings.retention[TenantID("audit")!] == .some(nil))
        #expect(settings.secretKeys == [TenantID("acme")!: ["pin"]])
        #expect(settings.rateLimits["acme"]?.rate == 50, "the rate limits come from the same file, into the same type")
        let policy = RetentionPolicy(period: .seconds(86_400), overrides: settings.retention)
        #expect(policy.period(for: TenantID("acme")!) == .seconds(7 * 86_400))
        #expect(policy.period(for: TenantID("audit")!) == nil)
        #expect(policy.period(for: TenantID("other")!) == .seconds(86_400))
        for bad in [#"{"acme": {"retention": "soon"}}"#, #"{"acme": {"secret_keys": "pin"}}"#, #"{"Not A Tenant": {}}"#, "[]"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TenantSettings.parse(Data(bad.utf8)) }
        }
    }

    @Test("docs/configuration.md lists every variable of the table, with the default the configuration has")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let docs = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        // Each table row's names (the first cell may name several: `A`, `B`) and its default (the third cell).
        var rows: [String: String] = [:]
        for line in docs.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count > 4 else { continue }
            for name in cells[1].matches(of: /`([A-Z0-9_]+)`/) { rows[String(name.output.1)] = cells[3] }
        }
        let defaults = LogPipeConfiguration()
        for setting in LogPipeConfiguration.settings {
            guard let documented = rows[setting.variable] else {
                Issue.record("\(setting.variable) is not in docs/configuration.md")
                continue
            }
            if let text = setting.text(defaults) {
                #expect(
                    documented.contains("`\(text)`"),
                    "docs/configuration.md gives \(setting.variable) the default \(documented), the configuration has \(text)")
            }
        }
    }
}
