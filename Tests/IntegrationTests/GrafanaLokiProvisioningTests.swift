import Foundation
import LogPipeCore
import Testing
import Yams

@testable import LogPipeApp

/// Grafana cannot run here: its provisioning of the Loki data source is checked as Grafana reads it, against
/// the compose file it runs in and the read API it points at.
@Suite("Grafana's Loki data source provisioning")
struct GrafanaLokiProvisioningTests {
    static let root = TestEnvironment.repositoryRoot

    @Test("the monitoring profile provisions a Loki data source on logpipe's API, with the tenant header and a read key")
    func provisioning() throws {
        let text = try String(contentsOf: Self.root.appendingPathComponent("deploy/grafana/provisioning/datasources/loki.yml"), encoding: .utf8)
        let file = try #require(try Yams.load(yaml: text) as? [String: Any])
        #expect(file["apiVersion"] as? Int == 1)
        let sources = try #require(file["datasources"] as? [[String: Any]])
        #expect(sources.count == 1)
        let loki = sources[0]
        #expect(loki["type"] as? String == "loki")
        #expect(loki["access"] as? String == "proxy", "Grafana's server sends the requests (the browser never holds the key)")
        #expect(loki["isDefault"] as? Bool == false, "Prometheus stays the default data source")
        let uid = try #require(loki["uid"] as? String)
        let prometheus = try String(contentsOf: Self.root.appendingPathComponent("deploy/grafana/provisioning/datasources/prometheus.yml"), encoding: .utf8)
        #expect(!prometheus.contains("uid: \(uid)"))
        // Headers: Grafana sends jsonData.httpHeaderNameN with secureJsonData.httpHeaderValueN.
        let json = try #require(loki["jsonData"] as? [String: Any])
        let secure = try #require(loki["secureJsonData"] as? [String: Any])
        var headers: [String: String] = [:]
        for index in 1...9 {
            guard let name = json["httpHeaderName\(index)"] as? String else { continue }
            headers[name] = try #require(secure["httpHeaderValue\(index)"] as? String, "value of \(name)")
        }
        #expect(headers["X-Scope-OrgID"] == "${LOGPIPE_GRAFANA_TENANT}")
        #expect(headers["Authorization"] == "Bearer ${LOGPIPE_GRAFANA_READ_KEY}")
        #expect(json["maxLines"] as? Int ?? 0 <= LokiReadAPI.maxEntries, "Grafana's line limit is one the API accepts")

        // The URL is the compose service of the API, on the port it listens on, and Grafana has the variables.
        let address = try #require(loki["url"] as? String)
        let url = try #require(URL(string: address))
        let host = try #require(url.host)
        let services = try Self.composeServices()
        let api = try #require(services[host])
        let environment = try #require(api["environment"] as? [String: Any])
        let port = try #require(url.port)
        #expect(environment["LOGPIPE_HTTP_PORT"] as? String == String(port))
        #expect((api["command"] as? [String]) == ["api"])
        let grafana = try #require(services["grafana"]?["environment"] as? [String: Any])
        let tenant = try #require(grafana["LOGPIPE_GRAFANA_TENANT"] as? String)
        #expect(TenantID(tenant) != nil)
        #expect(grafana["LOGPIPE_GRAFANA_READ_KEY"] != nil)
        let mounts = (services["grafana"]?["volumes"] as? [Any])?.map { "\($0)" } ?? []
        #expect(mounts.contains { $0.contains("deploy/grafana/provisioning") })
        // Without keys the API lets Grafana's network read: the networks are valid configuration.
        let networks = try #require(environment["LOGPIPE_READ_ALLOWED_NETWORKS"] as? String)
        let configuration = try LogPipeConfiguration(environment: ["LOGPIPE_READ_ALLOWED_NETWORKS": networks])
        #expect(configuration.http.readAllowedNetworks.contains { $0.contains("172.18.0.5") })
        #expect(!configuration.http.readAllowedNetworks.contains { $0.contains("8.8.8.8") })
        // Not the home and office LANs of Docker's fallback pool: a published port keeps the client's address.
        #expect(!configuration.http.readAllowedNetworks.contains { $0.contains("192.168.1.20") })
    }

    /// `docker-compose config` of the main compose file, by service.
    static func composeServices() throws -> [String: [String: Any]] {
        let output = "/tmp/logpipe-compose-loki-\(UUID().uuidString).yml"
        let file = root.appendingPathComponent("docker-compose.yml").path
        let status = PrivateBroker.system("docker-compose -f '\(file)' config > '\(output)' 2>&1")
        let text = (try? String(contentsOfFile: output, encoding: .utf8)) ?? ""
        try? FileManager.default.removeItem(atPath: output)
        #expect(status == 0, "\(text)")
        let root = try #require(try Yams.load(yaml: text) as? [String: Any])
        return try #require(root["services"] as? [String: [String: Any]])
    }
}
