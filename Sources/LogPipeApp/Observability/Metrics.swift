import AMQPBridge
import CoreMetrics
import Foundation
import LogPipeCore
import Prometheus
import Synchronization

/// logpipe's metrics (swift-metrics API, Prometheus text format at `GET /metrics`). One registry per
/// process, passed explicitly (no global bootstrap), so tests can count on a fresh one.
///
/// Tenant labels only for the configured set (`LOGPIPE_METRICS_TENANTS`); every other tenant is `other`, so
/// the number of series stays bounded whatever clients send.
public struct LogPipeMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let labelledTenants: Set<String>
    /// Broker connections whose node is exported at each scrape (``watch(_:)``).
    private let connections = WatchedConnections()
    /// Handles made once per label and dimensions.
    private let handles = MetricHandles()
    /// The series every request touches, each cached under a key of its own dimensions' values (no label, no
    /// array of pairs to build and hash per request).
    private let requestCounters = HandleCache<RequestSeries, CoreMetrics.Counter>()
    private let acceptedCounters = HandleCache<AcceptedSeries, AcceptedCounters>()
    private let confirmTimer = HandleCache<Int, CoreMetrics.Timer>()

    public init(labelledTenants: Set<String> = [], registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        var factory = PrometheusMetricsFactory(registry: registry)
        let latency: [Duration] = [
            .microseconds(500), .milliseconds(1), .milliseconds(2), .milliseconds(5), .milliseconds(10),
            .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
            .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30), .seconds(60),
        ]
        factory.defaultDurationHistogramBuckets = latency
        factory.valueHistogramBuckets["logpipe_worker_batch_logs"] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]
        self.factory = factory
        self.labelledTenants = labelledTenants
    }

    func tenantLabel(_ tenant: TenantID) -> String {
        labelledTenants.contains(tenant.rawValue) ? tenant.rawValue : "other"
    }

    // MARK: - API

    func request(method: String, route: String, status: Int) {
        requestCounters.handle(RequestSeries(method: method, route: route, status: status)) {
            CoreMetrics.Counter(
                label: "logpipe_http_requests_total", dimensions: [("method", method), ("route", route), ("status", String(status))],
                factory: factory)
        }
        .increment()
    }

    /// Accepted logs and text bytes per tenant and endpoint (`ingest`, `otlp`, `loki`).
    func accepted(tenant: TenantID, logs: Int, bytes: Int, endpoint: String = "ingest") {
        let label = tenantLabel(tenant)
        let counters = acceptedCounters.handle(AcceptedSeries(tenant: label, endpoint: endpoint)) {
            let dimensions = [("tenant", label), ("endpoint", endpoint)]
            return AcceptedCounters(
                logs: CoreMetrics.Counter(label: "logpipe_ingest_accepted_logs_total", dimensions: dimensions, factory: factory),
                bytes: CoreMetrics.Counter(label: "logpipe_ingest_accepted_bytes_total", dimensions: dimensions, factory: factory))
        }
        counters.logs.increment(by: logs)
        counters.bytes.increment(by: bytes)
    }

    func rejected(code: String) {
        handles.counter("logpipe_ingest_rejected_total", [("code", code)], factory).increment()
    }

    /// A request refused 429: counted once for each tenant in it (the request is refused as a whole).
    func rateLimited(tenants: some Sequence<TenantID>) {
        for label in Set(tenants.map(tenantLabel)) {
            handles.counter("logpipe_ingest_rate_limited_total", [("tenant", label)], factory).increment()
        }
    }

    func confirmLatency(_ duration: Duration) {
        confirmTimer.handle(0) { CoreMetrics.Timer(label: "logpipe_publish_confirm_seconds", factory: factory) }
            .recordNanoseconds(duration.nanoseconds)
    }

    // MARK: - Worker

    /// Logs by what became of them: `stored`, `duplicate` (already stored), `retried`, `parked`.
    func deliveries(_ outcome: String, count: Int) {
        guard count > 0 else { return }
        handles.counter("logpipe_worker_deliveries_total", [("outcome", outcome)], factory).increment(by: count)
    }

    func batchSize(_ logs: Int) {
        handles.recorder("logpipe_worker_batch_logs", factory).record(logs)
    }

    func storeWrite(_ duration: Duration, succeeded: Bool) {
        handles.timer("logpipe_store_write_seconds", [("result", succeeded ? "ok" : "error")], factory)
            .recordNanoseconds(duration.nanoseconds)
    }

    func redactions(_ counts: [String: Int]) {
        for (type, count) in counts where count > 0 {
            handles.counter("logpipe_redactions_total", [("type", type)], factory).increment(by: count)
        }
    }

    /// From the API's `received_at` to the store write that kept the log.
    func endToEnd(milliseconds: [Int64]) {
        let timer = handles.timer("logpipe_end_to_end_seconds", [], factory)
        for value in milliseconds { timer.recordNanoseconds(max(0, value) * 1_000_000) }
    }

    func queueDepth(_ queue: String, ready: Int) {
        handles.gauge("logpipe_queue_ready_messages", [("queue", queue)], factory).record(ready)
    }

    // MARK: - Broker connections

    /// Exports `logpipe_amqp_connected{connection, node}` for the connection at every scrape: 1 for the node it is
    /// on, 0 for its other configured nodes (so a failover shows as a step from one series to another).
    public func watch(_ connection: AMQPConnection) {
        connections.list.withLock { $0.append(connection) }
    }

    private func recordConnections() {
        for connection in connections.list.withLock({ $0 }) {
            let current = connection.endpoint?.address
            for endpoint in connection.configuration.endpoints {
                Gauge(
                    label: "logpipe_amqp_connected",
                    dimensions: [("connection", connection.configuration.connectionName), ("node", endpoint.address)], factory: factory
                )
                .record(endpoint.address == current ? 1 : 0)
            }
            // Read from the connection at each scrape: a gauge that only grows (swift-metrics' counters are
            // incremented, never set).
            Gauge(label: "logpipe_amqp_published_messages", dimensions: [("connection", connection.configuration.connectionName)], factory: factory)
                .record(connection.publishedMessages)
        }
    }

    /// The process's own figures at each scrape, from `/proc/self` (Prometheus's usual `process_*` names):
    /// resident memory, CPU time, open file descriptors, start time.
    private func recordProcess() {
        guard let sample = ProcessSample.read() else { return }
        Gauge(label: "process_resident_memory_bytes", factory: factory).record(sample.residentBytes)
        Gauge(label: "process_cpu_seconds_total", factory: factory).record(sample.cpuSeconds)
        Gauge(label: "process_open_fds", factory: factory).record(sample.openDescriptors)
        Gauge(label: "process_start_time_seconds", factory: factory).record(sample.startTimeSeconds)
    }

    /// The Prometheus text exposition of everything recorded.
    public func exposition() -> String {
        recordConnections()
        recordProcess()
        var buffer: [UInt8] = []
        registry.emit(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}

private final class WatchedConnections: Sendable {
    let list = Mutex<[AMQPConnection]>([])
}

/// One reading of `/proc/self/stat`, `/proc/self/fd` and `/proc/stat` (Linux).
struct ProcessSample {
    var residentBytes: Int
    var cpuSeconds: Double
    var openDescriptors: Int
    var startTimeSeconds: Double

    static func read() -> ProcessSample? {
        guard let stat = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name (which may hold spaces), numbered from 3 (state) as in proc(5).
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        func field(_ number: Int) -> Double? { fields.count > number - 3 ? Double(fields[number - 3]) : nil }
        let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
        let page = Double(sysconf(Int32(_SC_PAGESIZE)))
        guard let utime = field(14), let stime = field(15), let start = field(22), let rss = field(24), ticks > 0 else { return nil }
        let boot =
            (try? String(contentsOfFile: "/proc/stat", encoding: .utf8))?.split(separator: "\n")
            .first { $0.hasPrefix("btime ") }.flatMap { Double($0.dropFirst(6)) } ?? 0
        let descriptors = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? 0
        return ProcessSample(
            residentBytes: Int(rss * page), cpuSeconds: (utime + stime) / ticks, openDescriptors: descriptors,
            startTimeSeconds: boot + start / ticks)
    }
}

/// The dimensions of `logpipe_http_requests_total`.
private struct RequestSeries: Hashable, Sendable {
    let method: String
    let route: String
    let status: Int
}

/// The dimensions of the accepted logs and bytes (a tenant label: bounded, see ``LogPipeMetrics``).
private struct AcceptedSeries: Hashable, Sendable {
    let tenant: String
    let endpoint: String
}

private struct AcceptedCounters: Sendable {
    let logs: CoreMetrics.Counter
    let bytes: CoreMetrics.Counter
}

/// swift-metrics handles made once for each key. Making one asks the Prometheus registry, which validates the
/// names and looks the series up under its lock: done per request, that was about 5 % of the API's instructions
/// for a single log. The keys are bounded (tenant labels are, see ``LogPipeMetrics``).
final class HandleCache<Key: Hashable & Sendable, Handle: Sendable>: Sendable {
    private let table = Mutex<[Key: Handle]>([:])

    func handle(_ key: Key, make: () -> Handle) -> Handle {
        if let known = table.withLock({ $0[key] }) { return known }
        let made = make()
        return table.withLock { table in
            if let known = table[key] { return known }
            table[key] = made
            return made
        }
    }
}

/// Handles of the colder series, cached under their label and dimensions.
final class MetricHandles: Sendable {
    private struct Key: Hashable, Sendable {
        let label: String
        let dimensions: [String]
        init(_ label: String, _ dimensions: [(String, String)]) {
            self.label = label
            self.dimensions = dimensions.flatMap { [$0.0, $0.1] }
        }
    }

    private let counters = HandleCache<Key, CoreMetrics.Counter>()
    private let timers = HandleCache<Key, CoreMetrics.Timer>()
    private let recorders = HandleCache<Key, CoreMetrics.Recorder>()
    private let gauges = HandleCache<Key, CoreMetrics.Gauge>()

    func counter(_ label: String, _ dimensions: [(String, String)], _ factory: PrometheusMetricsFactory) -> CoreMetrics.Counter {
        counters.handle(Key(label, dimensions)) { CoreMetrics.Counter(label: label, dimensions: dimensions, factory: factory) }
    }

    func timer(_ label: String, _ dimensions: [(String, String)], _ factory: PrometheusMetricsFactory) -> CoreMetrics.Timer {
        timers.handle(Key(label, dimensions)) { CoreMetrics.Timer(label: label, dimensions: dimensions, factory: factory) }
    }

    func recorder(_ label: String, _ factory: PrometheusMetricsFactory) -> CoreMetrics.Recorder {
        recorders.handle(Key(label, [])) { CoreMetrics.Recorder(label: label, aggregate: true, factory: factory) }
    }

    func gauge(_ label: String, _ dimensions: [(String, String)], _ factory: PrometheusMetricsFactory) -> CoreMetrics.Gauge {
        gauges.handle(Key(label, dimensions)) { CoreMetrics.Gauge(label: label, dimensions: dimensions, factory: factory) }
    }
}
