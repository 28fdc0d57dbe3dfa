import AMQPBridge
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LogPipeCore
import TestSupport
import Testing

@testable import LogPipeApp

/// `/metrics` after a known workload through the real broker: every number is the one the workload implies.
@Suite("Metrics", .timeLimit(.minutes(2)))
struct MetricsTests {
    /// The value of one series in the exposition, or nil.
    static func value(_ exposition: String, _ series: String) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1))
        }
        return nil
    }

    @Test("a known workload is counted exactly: requests, accepted logs and bytes per labelled tenant, rejections, deliveries, redactions, queue depths")
    func knownWorkload() async throws {
        let fixture = try await BrokerFixture.start(retryPolicy: RetryAndDLQTests.policy)
        let metrics = LogPipeMetrics(labelledTenants: ["acme"])
        let store = SwitchableStore(try SQLiteLogStore(path: "/tmp/logpipe-metrics-tests/\(UUID().uuidString).sqlite"), failing: false)
        let worker = try await RunningWorker.start(
            fixture, store: store, policy: RetryAndDLQTests.policy, prefetch: 500,
            batchSize: 500, metrics: metrics)
        let api = IngestAPI(
            publisher: AMQPLogPublisher(connection: fixture.connection, topology: fixture.topology),
            configuration: fixture.configuration, metrics: metrics)
        try await Application(router: api.router()).test(.router) { client in
            func post(_ body: String) async throws -> Int {
                try await client.execute(
                    uri: "/ingest", method: .post, headers: [.contentType: "application/json"],
                    body: ByteBuffer(string: body)
                ) { Int($0.status.code) }
            }
            for index in 0..<5 { #expect(try await post(#"{"tenant_id":"acme","log_id":"m-\#(index)","text":"mail a\#(index)@example.com"}"#) == 202) }
            for index in 0..<3 { #expect(try await post(#"{"tenant_id":"beta","log_id":"n-\#(index)","text":"ip 10.0.0.\#(index)"}"#) == 202) }
            #expect(try await post(#"{"tenant_id":"acme","log_id":"m-0","text":"again"}"#) == 202)
            #expect(try await post(#"{"tenant_id":"acme"}"#) == 400)
            #expect(try await post("{") == 400)
            try await fixture.connection.publish(
                exchange: fixture.topology.ingestExchange, routingKey: "tenant.acme",
                body: Array("poison".utf8), properties: AMQPProperties(deliveryMode: 2))

            let settled = try await eventually(timeout: .seconds(15)) {
                let text = metrics.exposition()
                return Self.value(text, #"logpipe_worker_deliveries_total{outcome="parked"}"#) == 1
                    && Self.value(text, #"logpipe_worker_deliveries_total{outcome="duplicate"}"#) == 1
                    && Self.value(text, #"logpipe_worker_deliveries_total{outcome="stored"}"#) == 8
            }
            #expect(settled)
            let text = try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
                return String(buffer: response.body)
            }
            #expect(Self.value(text, #"logpipe_http_requests_total{method="POST",route="/ingest",status="202"}"#) == 9)
            #expect(Self.value(text, #"logpipe_http_requests_total{method="POST",route="/ingest",status="400"}"#) == 2)
            #expect(Self.value(text, #"logpipe_ingest_accepted_logs_total{tenant="acme",endpoint="ingest"}"#) == 6)
            #expect(Self.value(text, #"logpipe_ingest_accepted_logs_total{tenant="other",endpoint="ingest"}"#) == 3)
            let otherBytes = Self.value(text, #"logpipe_ingest_accepted_bytes_total{tenant="other",endpoint="ingest"}"#)
            #expect(otherBytes == 33, "\(String(describing: otherBytes))")
            #expect(Self.value(text, #"logpipe_ingest_rejected_total{code="missing_text"}"#) == 1)
            #expect(Self.value(text, #"logpipe_ingest_rejected_total{code="invalid_json"}"#) == 1)
            #expect(Self.value(text, #"logpipe_redactions_total{type="EMAIL"}"#) == 5)
            #expect(Self.value(text, #"logpipe_redactions_total{type="IP_ADDRESS"}"#) == 3)
            #expect(Self.value(text, "logpipe_publish_confirm_seconds_count") == 9)
            #expect(Self.value(text, "logpipe_end_to_end_seconds_count") == 9)
            #expect((Self.value(text, #"logpipe_store_write_seconds_count{result="ok"}"#) ?? 0) >= 1)
            #expect(Self.value(text, "logpipe_worker_batch_logs_count") != nil)
            #expect(!text.contains("tenant=\"beta\""))
            let depths = try await eventually {
                let now = metrics.exposition()
                return Self.value(now, #"logpipe_queue_ready_messages{queue="\#(fixture.topology.deadLetterQueue)"}"#) == 1
                    && Self.value(now, #"logpipe_queue_ready_messages{queue="\#(fixture.topology.workQueue)"}"#) == 0
            }
            #expect(depths)
        }
        await worker.stop()
        await fixture.tearDown()
    }
}
