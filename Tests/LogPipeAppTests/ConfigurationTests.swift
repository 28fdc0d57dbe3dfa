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
        #expect(configuration.amqpURL == "amqp://guest:guest@127.0.0.1:5672/")
        #expect(configuration.httpPort == 8000)
        #expect(configuration.namespace == "logpipe")
        #expect(configuration.mongoURI == nil)
        #expect(configuration.maxLogBytes == 262_144)
        #expect(configuration.maxRequestBytes == 8_388_608)
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
        #expect(configuration.amqpURL == "amqp://u:p@rabbit:5673/v")
        #expect(configuration.namespace == "staging")
        #expect(configuration.httpHost == "127.0.0.1")
        #expect(configuration.httpPort == 9000)
        #expect(configuration.maxLogBytes == 1000)
        #expect(configuration.maxRequestBytes == 5000)
        #expect(configuration.confirmTimeout == .milliseconds(1500))
        #expect(configuration.heartbeatSeconds == 30)
        #expect(configuration.prefetch == 50)
        #expect(configuration.mongoURI == "mongodb://m/")
        #expect(configuration.mongoDatabase == "logs")
        #expect(configuration.sqlitePath == "/tmp/x.sqlite")
        #expect(configuration.logLevel == .debug)
    }

    @Test("grouping of publishes: one message in flight per tenant by default, 0 turns it off")
    func coalescing() throws {
        #expect(LogPipeConfiguration().coalesceInFlight == 1)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_COALESCE_IN_FLIGHT": "0"]).coalesceInFlight == 0)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_COALESCE_IN_FLIGHT": "4"]).coalesceInFlight == 4)
    }

    @Test("bounded memory: 4 MiB of request bodies in work and 250 prefetched messages by default")
    func memoryBounds() throws {
        #expect(LogPipeConfiguration().maxInFlightBytes == 4 << 20)
        #expect(LogPipeConfiguration().prefetch == 250)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_MAX_INFLIGHT_BYTES": "65536"]).maxInFlightBytes == 65536)
        #expect(LogPipeConfiguration().maxWorkBacklog == 0)  // pacing to the workers is opt-in
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_MAX_WORK_BACKLOG": "2000"]).maxWorkBacklog == 2000)
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
        #expect(configuration.retention == .seconds(30 * 86_400))
        #expect(configuration.secretKeys == ["pin", "otp"])
        #expect(configuration.tenantLimitsFile == "/etc/logpipe/tenants.json")
        #expect(configuration.retentionSweepInterval == .seconds(5))
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_RETENTION": "forever"]).retention == nil)
        #expect(try LogPipeConfiguration(environment: ["LOGPIPE_TENANT_LIMITS_FILE": "/x.json"]).tenantLimitsFile == "/x.json")
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
        #expect(configuration.amqpURL == "amqps://logpipe:s3cret@broker:5671/")
        #expect(configuration.mongoURI == "mongodb://app:pw@db/?tls=true")
        #expect(configuration.apiKeysFile == "/etc/logpipe/keys", "a variable that names a file has a _FILE form too")
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
        #expect(configuration.httpTLSCertificateFile == pem && configuration.httpTLSKeyFile == pem)
        #expect(try LogPipeConfiguration(environment: [:]).amqpTLS.verify)
        for bad: [String: String] in [
            ["LOGPIPE_AMQP_CERT_FILE": pem], ["LOGPIPE_AMQP_KEY_FILE": pem], ["LOGPIPE_AMQP_CA_FILE": directory + "/none.pem"],
            ["LOGPIPE_AMQP_TLS_VERIFY": "maybe"], ["LOGPIPE_HTTP_TLS_CERT_FILE": pem],
        ] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try LogPipeConfiguration(environment: bad) }
        }
    }

    @Test("the list of variables that may come from files is exactly what the configuration reads")
    func variableList() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: root.appendingPathComponent("Sources/LogPipeApp/Configuration/LogPipeConfiguration.swift"), encoding: .utf8)
        // The names passed to value(...), integer(...), positive(...), seconds(...) in init(environment:).
        let body = source[source.range(of: "public init(environment:")!.lowerBound..<source.range(of: "/// Every variable the configuration reads")!.lowerBound]
        let read = Set(body.matches(of: /"((?:LOGPIPE_[A-Z0-9_]+)|LOG_LEVEL|PROCESSING_TIME_PER_CHAR)"/).map { String($0.output.1) })
        #expect(
            read == LogPipeConfiguration.variables,
            "missing from the list: \(read.subtracting(LogPipeConfiguration.variables).sorted()); listed but not read: \(LogPipeConfiguration.variables.subtracting(read).sorted())"
        )
    }

    @Test("the tenants file: retention (a duration or forever) and secret_keys per tenant, beside the rate limits")
    func tenantSettings() throws {
        let file = Data(#"{"acme": {"rate": 50, "retention": "7d", "secret_keys": ["pin"]}, "audit": {"retention": "forever"}}"#.utf8)
        let settings = try TenantSettings.parse(file)
        #expect(settings.retention[TenantID("acme")!] == .some(.seconds(7 * 86_400)))
        #expect(settings.retention[TenantID("audit")!] == .some(nil))
        #expect(settings.secretKeys == [TenantID("acme")!: ["pin"]])
        #expect(try RateLimits.parseOverrides(file)["acme"]?.rate == 50, "the rate limits read the same file")
        let policy = RetentionPolicy(period: .seconds(86_400), overrides: settings.retention)
        #expect(policy.period(for: TenantID("acme")!) == .seconds(7 * 86_400))
        #expect(policy.period(for: TenantID("audit")!) == nil)
        #expect(policy.period(for: TenantID("other")!) == .seconds(86_400))
        for bad in [#"{"acme": {"retention": "soon"}}"#, #"{"acme": {"secret_keys": "pin"}}"#, #"{"Not A Tenant": {}}"#, "[]"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TenantSettings.parse(Data(bad.utf8)) }
        }
    }

    @Test("docs/configuration.md lists every variable the configuration reads")
    func documented() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let source = try String(contentsOf: root.appendingPathComponent("Sources/LogPipeApp/Configuration/LogPipeConfiguration.swift"), encoding: .utf8)
        let docs = try String(contentsOf: root.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let read = Set(source.matches(of: /"((?:LOGPIPE_[A-Z0-9_]+)|LOG_LEVEL|PROCESSING_TIME_PER_CHAR)"/).map { String($0.output.1) })
        #expect(read.count > 40)
        // The names in the first cell of each table row (a row may name several: `A`, `B`).
        let rows = Set(
            docs.split(separator: "\n").filter { $0.hasPrefix("| `") }.flatMap { line in
                line.split(separator: "|", omittingEmptySubsequences: true).first.map { cell in
                    cell.matches(of: /`([A-Z0-9_]+)`/).map { String($0.output.1) }
                } ?? []
            })
        #expect(read.subtracting(rows).isEmpty, "not in docs/configuration.md: \(read.subtracting(rows).sorted())")
    }
}
