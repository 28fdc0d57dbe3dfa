import Foundation
import Glibc
import LogPipeCore
import Synchronization
import TestSupport
import Testing
import Yams

@testable import LogPipeApp

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The compose file as Debian's docker-compose reads it: validated and inspected here; scripts/compose-test.sh runs
/// it on a real Docker engine.
@Suite("Deployment files")
struct ComposeTests {
    @Test("docker-compose config accepts the file; every service has a health check; workers publish no port so they scale")
    func composeValidates() throws {
        let output = "/tmp/logpipe-compose-config.yml"
        let file = TestEnvironment.repositoryRoot.appendingPathComponent("docker-compose.yml").path
        let status = PrivateBroker.system("docker-compose -f '\(file)' config > '\(output)' 2>&1")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(text)")
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(root["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["rabbitmq", "mongo", "api", "worker", "prometheus", "grafana"])
        for (name, service) in services { #expect(service["healthcheck"] != nil, "\(name) has no health check") }
        // Prometheus and Grafana only with `--profile monitoring`; the pipeline itself in every profile.
        for name in ["prometheus", "grafana"] { #expect(services[name]?["profiles"] as? [String] == ["monitoring"], "\(name)") }
        for name in ["rabbitmq", "mongo", "api", "worker"] { #expect(services[name]?["profiles"] == nil, "\(name)") }
        #expect(services["worker"]?["ports"] == nil)
        #expect((services["rabbitmq"]?["image"] as? String)?.hasPrefix("rabbitmq:3.13-management") == true)
        #expect(services["mongo"]?["image"] as? String == "mongo:7")
        let environment = try #require(services["worker"]?["environment"] as? [String: Any])
        // Credentials come as Docker secrets through *_FILE, never as plain variables (docker inspect shows those).
        #expect(environment["LOGPIPE_MONGO_URI_FILE"] as? String == "/run/secrets/logpipe_mongo_uri")
        #expect(environment["LOGPIPE_AMQP_URL_FILE"] as? String == "/run/secrets/logpipe_amqp_url")
        #expect(environment["LOGPIPE_MONGO_URI"] == nil && environment["LOGPIPE_AMQP_URL"] == nil)
        for service in ["api", "worker"] {
            let secrets = (services[service]?["secrets"] as? [Any])?.map { "\($0)" } ?? []
            #expect(secrets.contains { $0.contains("logpipe_amqp_url") } && secrets.contains { $0.contains("logpipe_mongo_uri") }, "\(service)")
        }
        let volumes = (services["rabbitmq"]?["volumes"] as? [Any])?.map { "\($0)" } ?? []
        #expect(volumes.contains { $0.contains("rabbitmq.conf") } && volumes.contains { $0.contains("enabled_plugins") })
        #expect(environment["LOGPIPE_QUEUE_TYPE"] as? String == "quorum")
        // The monitoring profile mounts the rules, the scrape config, the dashboard and the provisioning, and each
        // file it mounts exists.
        for (name, expected) in [("prometheus", ["prometheus.yml", "alerts.yml"]), ("grafana", ["provisioning", "logpipe.json"])] {
            let mounts = (services[name]?["volumes"] as? [Any])?.map { "\($0)" } ?? []
            for file in expected { #expect(mounts.contains { $0.contains(file) }, "\(name) mounts \(file)") }
        }
        for file in [
            "deploy/prometheus/prometheus.yml", "deploy/prometheus/alerts.yml", "deploy/grafana/logpipe.json",
            "deploy/grafana/provisioning/datasources/prometheus.yml", "deploy/grafana/provisioning/dashboards/logpipe.yml",
        ] {
            #expect(FileManager.default.fileExists(atPath: TestEnvironment.repositoryRoot.appendingPathComponent(file).path), "\(file)")
        }
        let datasource = try String(
            contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/grafana/provisioning/datasources/prometheus.yml"),
            encoding: .utf8)
        let dashboard = try String(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/grafana/logpipe.json"), encoding: .utf8)
        #expect(
            datasource.contains("uid: logpipe-prometheus") && dashboard.contains(#""uid": "logpipe-prometheus""#),
            "the dashboard's panels name the provisioned data source")
        // The values compose passes are valid logpipe configuration, the secrets read from their files.
        let configuration = try LogPipeConfiguration(environment: Self.withSecretFiles(environment, root))
        #expect(configuration.amqp.url.hasPrefix("amqp://logpipe:") && configuration.store.mongoURI?.hasPrefix("mongodb://mongo:") == true)
    }

    /// The service's environment with each `/run/secrets/<name>` path replaced by the file compose mounts there.
    static func withSecretFiles(_ environment: [String: Any], _ config: [String: Any]) -> [String: String] {
        let secrets = (config["secrets"] as? [String: [String: Any]]) ?? [:]
        return environment.compactMapValues { $0 as? String }.mapValues { value in
            guard value.hasPrefix("/run/secrets/"), let file = secrets[String(value.dropFirst("/run/secrets/".count))]?["file"] as? String else { return value }
            return file
        }
    }

    @Test("the cluster file: three RabbitMQ nodes sharing a cookie and discovering each other; api and workers list all three")
    func clusterComposeValidates() throws {
        let output = "/tmp/logpipe-compose-cluster-config.yml"
        let root = TestEnvironment.repositoryRoot
        let status = PrivateBroker.system(
            "docker-compose -f '\(root.appendingPathComponent("docker-compose.yml").path)' "
                + "-f '\(root.appendingPathComponent("docker-compose.cluster.yml").path)' config > '\(output)' 2>&1")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        #expect(status == 0, "\(text)")
        let config = try #require(try Yams.load(yaml: text) as? [String: Any])
        let services = try #require(config["services"] as? [String: [String: Any]])
        #expect(Set(services.keys) == ["rabbitmq", "rabbitmq-2", "rabbitmq-3", "mongo", "api", "worker", "prometheus", "grafana"])
        var cookies = Set<String>()
        for node in ["rabbitmq", "rabbitmq-2", "rabbitmq-3"] {
            let environment = try #require(services[node]?["environment"] as? [String: Any])
            cookies.insert(environment["RABBITMQ_ERLANG_COOKIE"] as? String ?? "")
            let volumes = (services[node]?["volumes"] as? [Any])?.map { "\($0)" } ?? []
            #expect(volumes.contains { $0.contains("cluster-formation.conf") }, "\(node)")
            #expect(services[node]?["healthcheck"] != nil, "\(node)")
        }
        #expect(cookies.count == 1 && cookies.first?.isEmpty == false)
        let formation = try String(contentsOf: root.appendingPathComponent("broker/cluster-formation.conf"), encoding: .utf8)
        for node in ["rabbitmq", "rabbitmq-2", "rabbitmq-3"] { #expect(formation.contains("= rabbit@\(node)\n")) }
        for service in ["api", "worker"] {
            let environment = try #require(services[service]?["environment"] as? [String: Any])
            let configuration = try LogPipeConfiguration(environment: Self.withSecretFiles(environment, config))
            #expect(try configuration.amqpConfiguration(connectionName: "x").endpoints.map(\.host) == ["rabbitmq", "rabbitmq-2", "rabbitmq-3"])
        }
    }
}

/// The Grafana dashboard's structure (its queries are run by a real Prometheus in scripts/prometheus-test.sh).
@Suite("Grafana dashboard")
struct DashboardTests {
    struct Dashboard: Decodable {
        struct Panel: Decodable {
            struct Position: Decodable { var h: Int, w: Int, x: Int, y: Int }
            struct Source: Decodable { var type: String, uid: String }
            struct Target: Decodable { var expr: String, refId: String, legendFormat: String? }
            var id: Int
            var type: String
            var title: String
            var gridPos: Position
            var datasource: Source?
            var targets: [Target]?
        }
        var uid: String
        var title: String
        var panels: [Panel]
    }

    @Test("unique panel ids, a grid of 24 columns without overlaps, every graph a query on the provisioned data source")
    func structure() throws {
        let data = try Data(contentsOf: TestEnvironment.repositoryRoot.appendingPathComponent("deploy/grafana/logpipe.json"))
        let dashboard = try JSONDecoder().decode(Dashboard.self, from: data)
        #expect(dashboard.uid == "logpipe")
        #expect(Set(dashboard.panels.map(\.id)).count == dashboard.panels.count)
        var cells = Set<[Int]>()
        for panel in dashboard.panels {
            #expect(panel.gridPos.x >= 0 && panel.gridPos.x + panel.gridPos.w <= 24, "\(panel.title)")
            for column in panel.gridPos.x..<(panel.gridPos.x + panel.gridPos.w) {
                for row in panel.gridPos.y..<(panel.gridPos.y + panel.gridPos.h) {
                    #expect(cells.insert([column, row]).inserted, "\(panel.title) overlaps another panel")
                }
            }
            guard panel.type != "row" else { continue }
            #expect(panel.datasource?.uid == "logpipe-prometheus", "\(panel.title)")
            let targets = panel.targets ?? []
            #expect(!targets.isEmpty, "\(panel.title) has no query")
            #expect(Set(targets.map(\.refId)).count == targets.count, "\(panel.title)")
        }
        // What the operations kit promises to show.
        let queries = dashboard.panels.flatMap { $0.targets ?? [] }.map(\.expr).joined(separator: "\n")
        for metric in [
            "logpipe_ingest_accepted_logs_total", "logpipe_ingest_rejected_total", "logpipe_publish_confirm_seconds_bucket",
            "logpipe_queue_ready_messages", "logpipe_worker_deliveries_total", "logpipe_end_to_end_seconds_bucket",
            "logpipe_redactions_total", "topk(10", "process_resident_memory_bytes", "process_cpu_seconds_total",
        ] {
            #expect(queries.contains(metric), "no panel shows \(metric)")
        }
    }
}

/// SIGTERM to `logpipe serve` under load, over real HTTP: nothing that was answered 202 is lost.
/// Log ids answered 202, shared by the client tasks.
final class AcceptedIDs: Sendable {
    private let ids = Mutex<[String]>(["warm-up"])
    func withLock<T>(_ body: (inout [String]) -> T) -> T { ids.withLock { body(&$0) } }
}

@Suite("Graceful shutdown under load", .timeLimit(.minutes(3)))
struct GracefulShutdownTests {
    func post(port: Int, logID: String) async throws -> Int {
        try await HTTP.postJSON(port: port, #"{"tenant_id":"acme","log_id":"\#(logID)","text":"shutdown test \#(logID) bob@example.com"}"#)
    }

    @Test("SIGTERM under load: serve stops taking requests, finishes what it accepted and exits 0; every 202 is stored")
    func sigtermUnderLoad() async throws {
        let fixture = try await BrokerFixture.start()
        let directory = "/tmp/logpipe-shutdown-tests/\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        // Below Linux's ephemeral range (32768–60999): a port inside it may already be the local end of a connection.
        let port = Int.random(in: 20_000...29_000)
        let environment = [
            "LOGPIPE_AMQP_URL": fixture.configuration.amqp.url, "LOGPIPE_NAMESPACE": fixture.topology.namespace,
            "LOGPIPE_SQLITE_PATH": directory + "/logs.sqlite", "LOGPIPE_SHUTDOWN_TIMEOUT_S": "20", "LOGPIPE_WORKER_HTTP_PORT": "0",
        ]
        let serve = try WorkerProcess(
            ["serve", "--host", "127.0.0.1", "--port", "\(port)"], environment: environment,
            logPath: directory + "/serve.log")
        let up = try await eventually(timeout: .seconds(20)) {
            (try? await post(port: port, logID: "warm-up")) == 202
        }
        #expect(up)

        let accepted = AcceptedIDs()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for client in 0..<16 {
                group.addTask {
                    for index in 0..<5000 {
                        let logID = "s-\(client)-\(index)"
                        guard let status = try? await post(port: port, logID: logID) else { return }  // the server is gone
                        if status == 202 { accepted.withLock { $0.append(logID) } }
                    }
                }
            }
            group.addTask {
                _ = try await eventually(timeout: .seconds(30)) { accepted.withLock { $0.count } >= 400 }
                serve.signal(SIGTERM)
            }
            try await group.waitForAll()
        }
        #expect(await serve.wait() == 0)
        let log = (try? String(contentsOfFile: directory + "/serve.log", encoding: .utf8)) ?? ""
        #expect(log.contains("worker stopped consuming"))

        // What serve left in the queue is stored by a worker; then every log that got a 202 is there.
        let drainer = try WorkerProcess(["worker"], environment: environment, logPath: directory + "/worker.log")
        let store = try SQLiteLogStore(path: directory + "/logs.sqlite")
        let ids = accepted.withLock { $0 }
        let drained = try await eventually(timeout: .seconds(30)) {
            let queued = try await fixture.readyCount(fixture.topology.workQueue)
            let stored = try await store.count(tenant: TenantID("acme")!)
            return queued == 0 && stored >= ids.count
        }
        #expect(drained)
        var missing = 0
        for id in ids where try await store.get(tenant: TenantID("acme")!, logID: id) == nil { missing += 1 }
        #expect(missing == 0, "\(missing) of \(ids.count) accepted logs are not stored")
        #expect(ids.count >= 400)
        drainer.signal(SIGTERM)
        #expect(await drainer.wait() == 0)
        await fixture.tearDown()
    }
}
