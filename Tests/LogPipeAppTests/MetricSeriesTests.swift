import LogPipeCore
import Testing

@testable import LogPipeApp

/// The per-request series, without a broker: the names, labels and values Prometheus reads, however often a
/// series is touched (its handle is made once and cached).
@Suite("Metric series of the API")
struct MetricSeriesTests {
    @Test("requests, accepted logs and bytes and confirm latency keep their names, labels and sums; unlisted tenants are 'other'")
    func perRequestSeries() throws {
        let metrics = LogPipeMetrics(labelledTenants: ["acme"])
        for _ in 0..<3 { metrics.request(method: "POST", route: "/ingest", status: 202) }
        metrics.request(method: "POST", route: "/ingest", status: 400)
        metrics.accepted(tenant: try #require(TenantID("acme")), logs: 2, bytes: 30)
        metrics.accepted(tenant: try #require(TenantID("acme")), logs: 1, bytes: 12)
        metrics.accepted(tenant: try #require(TenantID("globex")), logs: 5, bytes: 50, endpoint: "otlp")
        metrics.confirmLatency(.milliseconds(3))
        metrics.confirmLatency(.milliseconds(30))
        let lines = Set(metrics.exposition().split(separator: "\n").map(String.init))
        for expected in [
            #"logpipe_http_requests_total{method="POST",route="/ingest",status="202"} 3"#,
            #"logpipe_http_requests_total{method="POST",route="/ingest",status="400"} 1"#,
            #"logpipe_ingest_accepted_logs_total{tenant="acme",endpoint="ingest"} 3"#,
            #"logpipe_ingest_accepted_bytes_total{tenant="acme",endpoint="ingest"} 42"#,
            #"logpipe_ingest_accepted_logs_total{tenant="other",endpoint="otlp"} 5"#,
            #"logpipe_ingest_accepted_bytes_total{tenant="other",endpoint="otlp"} 50"#,
            "logpipe_publish_confirm_seconds_count 2",
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
        #expect(!lines.contains { $0.contains("globex") })
    }
}
