import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import Logging
import NIOCore

/// The Loki read API over the stored logs of one tenant (docs/api.md, "Reading logs"): the subset of Loki's
/// HTTP API that Grafana's Loki data source and logcli use. Every request reads only the tenant its key (or
/// `X-Scope-OrgID`, without keys) names.
struct LokiReadAPI: Sendable {
    /// nil when the process has no store to read (unit tests): the read routes answer 503.
    let runner: LokiQueryRunner?
    let access: ReadAccess

    /// Entries one log query may return (Loki's `max_entries_limit_per_query`).
    static let maxEntries = 5_000
    /// The longest range a query may cover (Loki's `max_query_length`, 721 h).
    static let maxRangeMilliseconds: Int64 = 721 * 3_600_000
    /// Without `start`, a query reads the hour before `end` (Loki's default `since`).
    static let defaultSinceMilliseconds: Int64 = 3_600_000
    /// Without `start`, labels, label values and series read the 6 hours before `end` (as Loki does).
    static let defaultMetadataSinceMilliseconds: Int64 = 6 * 3_600_000

    /// What Loki's `GET /loki/api/v1/status/buildinfo` answers; the version says what this is.
    static let buildInfo =
        #"{"version":"2.9.0-logpipe","revision":"logpipe","branch":"","buildUser":"","buildDate":"","goVersion":""}"#

    /// The read routes, behind ``ReadAccessMiddleware``; buildinfo and `/ready` answer anyone.
    func register(on router: Router<APIRequestContext>) {
        router.group().add(middleware: ReadAccessMiddleware(access: access))
            .get("/loki/api/v1/query_range") { request, context in
                try await queryRange(try context.tenantToRead(), LokiParameters(query: request.uri.query), requestID: context.requestID)
            }
            .get("/loki/api/v1/query") { request, context in
                try await instantQuery(try context.tenantToRead(), LokiParameters(query: request.uri.query), requestID: context.requestID)
            }
            .get("/loki/api/v1/labels") { request, context in
                let sets = try await labelSets(context, LokiParameters(query: request.uri.query), selectors: \.query)
                return LokiResponses.names(Set(sets.flatMap { $0.labels.map(\.name) }).sorted(), requestID: context.requestID)
            }
            .get("/loki/api/v1/label/:name/values") { request, context in
                let name = context.parameters.get("name") ?? ""
                let sets = try await labelSets(context, LokiParameters(query: request.uri.query), selectors: \.query)
                return LokiResponses.names(Set(sets.compactMap { $0[name] }).sorted(), requestID: context.requestID)
            }
            .get("/loki/api/v1/series") { request, context in
                let sets = try await labelSets(context, LokiParameters(query: request.uri.query), selectors: \.matches)
                return LokiResponses.series(
                    sets.sorted { $0.labels.lexicographicallyPrecedes($1.labels) { ($0.name, $0.value) < ($1.name, $1.value) } },
                    requestID: context.requestID)
            }
            .get("/loki/api/v1/tail") { request, _ -> Response in
                // A WebSocket upgrade of this path is taken by LokiTail before the router sees it; a plain GET is told so.
                _ = try LokiTail.selector(LokiParameters(query: request.uri.query))
                throw IngestError(.invalidQuery, "the tail endpoint streams over a WebSocket: connect with ws:// (Upgrade: websocket)")
            }
        router.get("/loki/api/v1/status/buildinfo") { _, context in
            LokiResponses.raw(Array(Self.buildInfo.utf8), requestID: context.requestID)
        }
        router.get("/ready") { _, context in
            Response(
                status: .ok, headers: [.contentType: "text/plain; charset=utf-8", APIResponses.requestIDHeader: context.requestID],
                body: .init(byteBuffer: ByteBuffer(string: "ready\n")))
        }
    }

    private func requireRunner() throws(IngestError) -> LokiQueryRunner {
        guard let runner else { throw IngestError(.storeUnavailable, "this process has no log store to read") }
        return runner
    }

    // MARK: - Queries

    /// The `[start, end]` of a request in nanoseconds: `end` defaults to now, `start` to `end` − `since`.
    static func range(_ parameters: LokiParameters, defaultSince: Int64) throws(IngestError) -> (start: Int64, end: Int64) {
        let now = Int64(UnixTime.now.milliseconds) * 1_000_000
        let end = try parameters.nanoseconds("end", fallback: now)
        let since = try parameters.milliseconds("since") ?? defaultSince
        guard since <= maxRangeMilliseconds else { throw IngestError(.queryTooLarge, "since is longer than 721h; shorten it") }
        let start = try parameters.nanoseconds("start", fallback: end - since * 1_000_000)
        guard end >= start else { throw IngestError(.invalidQuery, "end must not be before start") }
        guard (end - start) / 1_000_000 <= maxRangeMilliseconds else {
            throw IngestError(.queryTooLarge, "the range is longer than 721h; shorten it")
        }
        return (start, end)
    }

    /// Nanoseconds to the milliseconds of an inclusive start bound (entries at or after it).
    static func ceilMilliseconds(_ nanoseconds: Int64) -> Int64 {
        nanoseconds >= 0 ? (nanoseconds + 999_999) / 1_000_000 : nanoseconds / 1_000_000
    }

    static func parse(_ text: String?) throws(IngestError) -> LogQLQuery {
        guard let text else { throw IngestError(.invalidQuery, "the query parameter is missing") }
        do {
            return try LogQLQuery(text)
        } catch {
            throw IngestError(error.kind == .invalid ? .invalidQuery : .unsupportedQuery, "LogQL: \(error.message)")
        }
    }

    private func queryRange(_ tenant: TenantID, _ parameters: LokiParameters, requestID: String) async throws(IngestError) -> Response {
        let query = try Self.parse(parameters["query"])
        let (start, end) = try Self.range(parameters, defaultSince: Self.defaultSinceMilliseconds)
        switch query {
        case .logs(let selector):
            let logs = try await requireRunner().logs(
                tenant: tenant, selector, start: Self.ceilMilliseconds(start), end: Self.ceilMilliseconds(end),
                limit: try parameters.limit(maximum: Self.maxEntries), newestFirst: try parameters.newestFirst())
            return LokiResponses.streams(logs, requestID: requestID)
        case .metric(let metric):
            let rangeMilliseconds = (end - start) / 1_000_000
            let step = try parameters.milliseconds("step") ?? max(1_000, rangeMilliseconds / 250 / 1_000 * 1_000)
            let evaluator = try Self.evaluator(metric, start: start / 1_000_000, end: end / 1_000_000, step: step)
            return LokiResponses.matrix(try await requireRunner().metric(tenant: tenant, evaluator), requestID: requestID)
        case .constant(let value):
            let step = max(1, try parameters.milliseconds("step") ?? 1_000)
            var points: [MetricSeries.Point] = []
            var time = start / 1_000_000
            while time <= end / 1_000_000 && points.count < MetricEvaluator.maxPoints {
                points.append(.init(milliseconds: time, value: value))
                time += step
            }
            return LokiResponses.matrix([MetricSeries(labels: LokiLabels([]), points: points)], requestID: requestID)
        }
    }

    private func instantQuery(_ tenant: TenantID, _ parameters: LokiParameters, requestID: String) async throws(IngestError) -> Response {
        let query = try Self.parse(parameters["query"])
        let now = Int64(UnixTime.now.milliseconds) * 1_000_000
        let time = try parameters.nanoseconds("time", fallback: now)
        switch query {
        case .constant(let value):
            return LokiResponses.vector([(labels: LokiLabels([]), value: value)], at: time / 1_000_000, requestID: requestID)
        case .logs(let selector):
            // Loki 2's instant log query: the newest (or oldest) entries of the hour up to `time`.
            let end = Self.ceilMilliseconds(time) + 1
            let logs = try await requireRunner().logs(
                tenant: tenant, selector, start: end - Self.defaultSinceMilliseconds, end: end,
                limit: try parameters.limit(maximum: Self.maxEntries), newestFirst: try parameters.newestFirst())
            return LokiResponses.streams(logs, requestID: requestID)
        case .metric(let metric):
            let at = time / 1_000_000
            let evaluator = try Self.evaluator(metric, start: at, end: at, step: 1_000)
            let series = try await requireRunner().metric(tenant: tenant, evaluator)
            return LokiResponses.vector(
                series.compactMap { one in one.points.last.map { (labels: one.labels, value: $0.value) } }, at: at, requestID: requestID)
        }
    }

    static func evaluator(_ metric: MetricQuery, start: Int64, end: Int64, step: Int64) throws(IngestError) -> MetricEvaluator {
        guard metric.rangeMilliseconds <= maxRangeMilliseconds else {
            throw IngestError(.queryTooLarge, "the range of \(metric.function.rawValue) is longer than 721h")
        }
        do {
            return try MetricEvaluator(query: metric, startMilliseconds: start, endMilliseconds: end, stepMilliseconds: step)
        } catch {
            throw IngestError(error.kind == .invalid ? .invalidQuery : .queryTooLarge, error.message)
        }
    }

    /// The label sets of the range's logs selected by any of the request's selectors (stream selectors, perhaps
    /// with filters): `query` for labels and label values, every `match[]` for series.
    private func labelSets(
        _ context: APIRequestContext, _ parameters: LokiParameters, selectors: (LokiParameters) -> [String]
    ) async throws(IngestError) -> Set<LokiLabels> {
        let tenant = try context.tenantToRead()
        let texts = selectors(parameters)
        var selectors: [LogSelector] = []
        for text in texts {
            guard case .logs(let selector) = try Self.parse(text) else {
                throw IngestError(.invalidQuery, "a series or label selector must be a stream selector such as {level=\"error\"}")
            }
            selectors.append(selector)
        }
        let (start, end) = try Self.range(parameters, defaultSince: Self.defaultMetadataSinceMilliseconds)
        return try await requireRunner().labelSets(tenant: tenant, selectors, start: Self.ceilMilliseconds(start), end: Self.ceilMilliseconds(end) + 1)
    }
}

extension LokiParameters {
    /// The selector of a labels or label-values request (none: every stream).
    var query: [String] { self["query"].map { [$0] } ?? [] }
    /// The selectors of a series request.
    var matches: [String] { all("match[]") }
}
