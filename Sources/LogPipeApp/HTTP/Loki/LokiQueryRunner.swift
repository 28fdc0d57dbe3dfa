import LogPipeCore
import Synchronization

/// Answers parsed queries from a ``LogReader``, for one tenant at a time: what the store can filter it filters
/// (time, `level`/`source`/attribute equalities, line filters), the rest of the selector is checked here.
struct LokiQueryRunner: Sendable {
    let reader: any LogReader
    /// The most logs one request may select (`LOGPIPE_READ_MAX_LOGS`).
    let maxLogs: Int
    /// Labels, label values and series come from at most this many of the newest logs of the range.
    var metadataLogs = 100_000

    /// Up to `limit` logs selected by `selector` in `[start, end)`, in the scan's order.
    func logs(tenant: TenantID, _ selector: LogSelector, start: Int64, end: Int64, limit: Int, newestFirst: Bool) async throws(IngestError) -> [StoredLog] {
        let collected = Collector<[StoredLog]>([])
        let scan = LogScan(
            startMilliseconds: start, endMilliseconds: end, newestFirst: newestFirst, equalities: ScanEquality.of(selector),
            lineFilters: selector.filters, pageSize: min(1_000, max(100, limit)))
        try await run(tenant, scan) { page in
            collected.update { logs in
                for log in page where Self.labelsMatch(selector, log) {
                    logs.append(log)
                    if logs.count == limit { return false }
                }
                return true
            }
        }
        return collected.value
    }

    /// A metric query's series.
    func metric(tenant: TenantID, _ evaluator: MetricEvaluator) async throws(IngestError) -> [MetricSeries] {
        let selector = evaluator.query.selector
        let state = Collector((evaluator, 0))
        let scan = LogScan(
            startMilliseconds: evaluator.scanStart, endMilliseconds: evaluator.scanEnd, newestFirst: false,
            equalities: ScanEquality.of(selector), lineFilters: selector.filters, pageSize: 1_000)
        let limit = maxLogs
        try await run(tenant, scan) { page in
            state.update { state in
                for log in page where Self.labelsMatch(selector, log) {
                    guard let time = UnixTime(stamp: log.receivedAt) else { continue }
                    state.0.add(log, at: Int64(time.milliseconds))
                    state.1 += 1
                }
                return state.1 <= limit
            }
        }
        let (finished, counted) = state.value
        guard counted <= limit else {
            throw IngestError(.queryTooLarge, "the query selects more than \(limit) logs (LOGPIPE_READ_MAX_LOGS); shorten the range or narrow the selector")
        }
        return finished.series()
    }

    /// The distinct label sets of the logs selected by any of `selectors` (all logs when there are none), from
    /// the newest ``metadataLogs`` of the range.
    func labelSets(tenant: TenantID, _ selectors: [LogSelector], start: Int64, end: Int64) async throws(IngestError) -> Set<LokiLabels> {
        let state = Collector((Set<LokiLabels>(), 0))
        let scan = LogScan(
            startMilliseconds: start, endMilliseconds: end, newestFirst: true,
            equalities: selectors.count == 1 ? ScanEquality.of(selectors[0]) : [],
            lineFilters: selectors.count == 1 ? selectors[0].filters : [], pageSize: 1_000)
        let limit = metadataLogs
        try await run(tenant, scan) { page in
            state.update { state in
                for log in page {
                    state.1 += 1
                    let labels = LokiLabels(log)
                    guard selectors.isEmpty || selectors.contains(where: { $0.matches(labels: labels, line: log.text) }) else { continue }
                    state.0.insert(labels)
                }
                return state.1 < limit
            }
        }
        return state.value.0
    }

    static func labelsMatch(_ selector: LogSelector, _ log: StoredLog) -> Bool {
        selector.matchesLabels(log)
    }

    private func run(_ tenant: TenantID, _ scan: LogScan, visit: @escaping @Sendable ([StoredLog]) -> Bool) async throws(IngestError) {
        do {
            try await reader.scan(tenant: tenant, scan, visit: visit)
        } catch {
            throw IngestError(.storeUnavailable, "the log store could not be read; retry later")
        }
    }
}

/// State a scan's visitor builds up (on the reader's thread), read once the scan is over.
final class Collector<Value: Sendable>: Sendable {
    private let state: Mutex<Value>

    init(_ value: Value) { state = Mutex(value) }

    func update<Result: Sendable>(_ body: (inout Value) -> Result) -> Result { state.withLock { body(&$0) } }

    var value: Value { state.withLock { $0 } }
}
