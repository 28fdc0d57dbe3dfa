import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LogPipeCore
import Logging
import NIOCore
import ShipperProtocols
import Synchronization
import ZlibBridge

/// The HTTP API: `POST /ingest`, `POST /v1/logs` (OTLP) and `POST /loki/api/v1/push` (ShipperEndpoints.swift), `GET /health`, `GET /readiness`, `GET /openapi.yaml`, and the Loki read API (Loki/LokiReadAPI.swift) (docs/api.md).
public struct IngestAPI: Sendable {
    let publisher: any LogPublisher
    let parser: IngestParser
    let maxRequestBytes: Int
    /// The publisher's check, then those of anything else running in the process (a worker in `serve`).
    let checks: [ReadinessCheck]
    /// Tenant API keys; `nil` = no authentication.
    let keys: APIKeyStore?
    let limiter: TenantRateLimiter
    /// Request bodies being worked on at once, in bytes (`LOGPIPE_MAX_INFLIGHT_BYTES`).
    let budget: BodyBudget
    /// How long a body may take to arrive (`LOGPIPE_BODY_TIMEOUT_S`), and the deadlines of those arriving.
    let bodyTimeout: Duration
    let deadlines: BodyDeadlines
    /// When set: `GET /metrics`, and requests, accepted logs, rejections and confirm latency are counted.
    let metrics: LogPipeMetrics?
    /// The OTLP resource attribute that names the tenant (`LOGPIPE_OTLP_TENANT_ATTRIBUTE`).
    let otlpTenantAttribute: String
    /// What one OTLP or Loki request may make the API build.
    let shipperLimits: ShipperLimits
    /// Open connections, against `LOGPIPE_MAX_CONNECTIONS` and `LOGPIPE_MAX_CONNECTIONS_PER_CLIENT`.
    let connections: ConnectionLimiter
    /// The Loki read API (Loki/LokiReadAPI.swift) over `reader`.
    let readAPI: LokiReadAPI

    public init(
        publisher: any LogPublisher, configuration: LogPipeConfiguration, extraChecks: [ReadinessCheck] = [],
        keys: APIKeyStore? = nil, rateLimits: RateLimits? = nil, metrics: LogPipeMetrics? = nil, reader: (any LogReader)? = nil
    ) {
        self.metrics = metrics
        self.publisher = publisher
        self.parser = IngestParser(maxLogBytes: configuration.maxLogBytes, maxBatchLogs: configuration.maxBatchLogs)
        self.maxRequestBytes = configuration.maxRequestBytes
        self.checks = [.publisher(publisher)] + extraChecks
        self.keys = keys
        self.limiter = TenantRateLimiter(limits: rateLimits ?? configuration.rateLimits)
        self.budget = BodyBudget(capacity: configuration.maxInFlightBytes)
        self.bodyTimeout = configuration.bodyTimeout
        self.deadlines = BodyDeadlines(timeout: configuration.bodyTimeout, minimumRate: configuration.bodyMinimumRate)
        self.otlpTenantAttribute = configuration.otlpTenantAttribute
        self.shipperLimits = ShipperLimits(
            records: configuration.maxBatchLogs, decodedBytes: configuration.maxDecodedBytes, expandedBytes: configuration.maxRequestBytes)
        self.connections = ConnectionLimiter(
            maxConnections: Self.connectionCap(configuration.maxConnections), maxPerClient: configuration.maxConnectionsPerClient)
        self.readAPI = LokiReadAPI(
            runner: reader.map { LokiQueryRunner(reader: $0, maxLogs: configuration.readMaxLogs) },
            access: ReadAccess(keys: keys, allowedNetworks: configuration.readAllowedNetworks))
    }

    /// The HTTP server on `configuration`'s address. Idle keep-alive connections, and connections that stall
    /// between or inside requests, are closed after `httpIdleTimeout`; header sizes and counts keep NIO's
    /// decoder limits (a request past them gets 400 and its connection is closed); connections over the caps
    /// are answered 503 `too_many_connections` and closed. With `tls`, HTTPS only.
    public func application(configuration: LogPipeConfiguration, logger: Logger, tls: TLSCertificateStore? = nil) -> some ApplicationProtocol {
        let idleTimeout = TimeAmount.milliseconds(Topology.milliseconds(configuration.httpIdleTimeout))
        let http1 = HTTP1Channel.Configuration(idleTimeout: idleTimeout)
        let refused: @Sendable () -> Void = { [metrics] in metrics?.rejected(code: IngestError.Code.tooManyConnections.rawValue) }
        return Application(
            router: router(),
            server: HTTPServerBuilder.limited(http1, tls: tls, limiter: connections, onRefused: refused, upgrade: readAPI.upgrade),
            configuration: .init(address: .hostname(configuration.httpHost, port: configuration.httpPort), serverName: "logpipe"),
            logger: logger)
    }

    /// The connection cap in effect: `configured`, kept 256 descriptors under the process's limit of open
    /// files (the broker, the store and the files need some too).
    static func connectionCap(_ configured: Int) -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0, limit.rlim_cur < rlim_t(Int32.max) else { return configured }
        let usable = max(16, Int(clamping: limit.rlim_cur) - 256)
        return configured == 0 ? usable : min(configured, usable)
    }

    /// A router with every route and JSON errors for unknown routes and methods.
    public func router() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        let allowed = AllowedMethods()
        if let metrics { router.add(middleware: RequestMetricsMiddleware(metrics: metrics)) }
        router.add(middleware: JSONErrorMiddleware(allowed: allowed))
        router.post("/ingest") { request, context in await ingest(request, context: context) }
        router.post("/v1/logs") { request, context in await otlpLogs(request, context: context) }
        router.post("/loki/api/v1/push") { request, context in await lokiPush(request, context: context) }
        router.get("/health") { request, _ in
            APIResponses.health(requestID: request.requestID)
        }
        router.get("/readiness") { request, _ in await readiness(request) }
        router.get("/openapi.yaml") { request, _ in OpenAPISpec.response(requestID: request.requestID) }
        if let metrics { router.get("/metrics") { _, _ in metrics.response() } }
        readAPI.register(on: router)
        allowed.record(router.routes.map { ("\($0.path)", $0.method.rawValue) })
        return router
    }

    func ingest(_ request: Request, context: APIRequestContext) async -> Response {
        let requestID = request.requestID
        let receivedAt = UnixTime.now
        do throws(IngestError) {
            let grant = try authenticate(request)
            let mediaType = try MediaType(request.headers.value(.contentType))
            // Memory stays bounded under overload: bodies are charged to the budget as their bytes arrive (a
            // client that sends headers and then nothing holds nothing), within their client's share, and read
            // under the body timeout and the minimum rate.
            let charge = BodyCharge(budget: budget, client: context.budgetClient(grant: grant))
            defer { charge.releaseAll() }
            let body = try await readBody(request, charge: charge)
            // An empty header counts as absent (as empty environment variables do).
            let headerTenant = request.headers.value(APIResponses.tenantHeader).flatMap { $0.isEmpty ? nil : $0 }
            let inputs: [LogInput]
            var isBatch = false
            switch mediaType {
            case .json:
                (inputs, isBatch) = try parser.parseJSONBody(body, headerTenant: headerTenant, defaultTenant: grant?.onlyTenant)
            case .text:
                inputs = [
                    try parser.parseText(
                        body, headerTenant: headerTenant, headerLogID: request.headers.value(APIResponses.logIDHeader).flatMap { $0.isEmpty ? nil : $0 },
                        defaultTenant: grant?.onlyTenant)
                ]
            case .ndjson:
                inputs = try parser.parseNDJSON(body, headerTenant: headerTenant, defaultTenant: grant?.onlyTenant)
                isBatch = true
            }
            let records = try await accept(
                inputs, grant: grant, requestID: requestID, receivedAt: receivedAt, asBatch: isBatch,
                endpoint: "ingest")
            if isBatch {
                context.logger.debug(
                    "batch accepted",
                    metadata: [
                        "request.id": "\(requestID)", "batch.logs": "\(records.count)", "request.bytes": "\(body.count)",
                    ])
                return APIResponses.accepted(batch: records, requestID: requestID)
            }
            let record = records[0]
            context.logger.debug(
                "log accepted",
                metadata: [
                    "request.id": "\(requestID)", "tenant.id": "\(record.tenantID)", "log.id": "\(record.logID)",
                    "log.bytes": "\(record.text.utf8.count)",
                ])
            return APIResponses.accepted(record)
        } catch {
            metrics?.rejected(code: error.code.rawValue)
            let level: Logger.Level = error.httpStatus.code >= 500 ? .warning : .debug
            context.logger.log(
                level: level, "ingest rejected",
                metadata: [
                    "request.id": "\(requestID)", "error.code": "\(error.code)", "http.status": "\(error.httpStatus.code)",
                ])
            return APIResponses.error(error, requestID: requestID)
        }
    }

    /// What every endpoint does once it has valid logs: the key's tenants, the rate limits, the records (one
    /// receive time, log ids), and the publish, which returns once the broker confirmed every message (a
    /// single log alone, or batch chunks). Counted per tenant and endpoint.
    func accept(
        _ inputs: [LogInput], grant: APIKeyTable.Entry?, requestID: String, receivedAt: UnixTime, asBatch: Bool,
        endpoint: String
    ) async throws(IngestError) -> [LogRecord] {
        var costs: [TenantID: (logs: Int, bytes: Int)] = [:]
        for input in inputs {
            if let grant, !grant.allows(input.tenantID) {
                throw IngestError(.tenantNotAllowed, "this API key may not write tenant '\(input.tenantID)'")
            }
            costs[input.tenantID, default: (0, 0)].logs += 1
            costs[input.tenantID, default: (0, 0)].bytes += input.text.utf8.count
        }
        if let wait = limiter.admit(costs) {
            metrics?.rateLimited(tenants: costs.keys)
            throw IngestError(
                .rateLimited, "the tenant is over its ingestion rate; retry after the Retry-After seconds",
                retryAfterSeconds: max(1, Int(wait.rounded(.up))))
        }
        let records = LogInput.records(inputs, requestID: requestID, receivedAt: receivedAt)
        let publishStart = ContinuousClock.now
        defer { metrics?.confirmLatency(ContinuousClock.now - publishStart) }
        if asBatch || records.count != 1 {
            try await publisher.publish(batch: records)
        } else {
            try await publisher.publish(records[0])
        }
        for (tenant, cost) in costs { metrics?.accepted(tenant: tenant, logs: cost.logs, bytes: cost.bytes, endpoint: endpoint) }
        return records
    }

    /// With keys configured: the key's grant, or 401 (403 for a key without the ingest scope). Without: nil
    /// (every tenant may write).
    func authenticate(_ request: Request) throws(IngestError) -> APIKeyTable.Entry? {
        guard let keys else { return nil }
        let entry = try keys.entry(authorization: request.headers.value(.authorization))
        guard entry.scopes.contains(.ingest) else {
            throw IngestError(.scopeNotAllowed, "this API key may not send logs (it has no ingest scope)")
        }
        return entry
    }

    /// The declared `Content-Length`: `nil` when absent or not a plain number (the HTTP parser frames the body
    /// either way), `Int.max` when it is a number too large for an `Int`. Never traps, whatever the header says.
    static func declaredLength(_ request: Request) -> Int? {
        guard let text = request.headers.value(.contentLength) else { return nil }
        let digits = text.utf8
        guard !digits.isEmpty, digits.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else { return nil }
        return Int(text) ?? Int.max
    }

    /// The `Content-Encoding`, trimmed and lowercased; `nil` when absent.
    static func contentEncoding(_ request: Request) -> String? {
        request.headers.value(.contentEncoding)?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    /// The body, decompressed when `Content-Encoding: gzip`, read within `bodyTimeout` of the headers (then
    /// 408 `request_timeout`). The request limit applies to the decompressed size, and reading stops as soon as
    /// it is passed. Every chunk read, and what it inflates to, is charged to the body budget first.
    func readBody(_ request: Request, charge: BodyCharge) async throws(IngestError) -> Data {
        let tooLarge = IngestError(.requestTooLarge, "the request body is larger than \(maxRequestBytes) bytes (decompressed)")
        if let length = Self.declaredLength(request), length > maxRequestBytes { throw tooLarge }
        let gzip: Bool
        switch Self.contentEncoding(request) {
        case nil, "", "identity": gzip = false
        case "gzip", "x-gzip": gzip = true
        default: throw IngestError(.unsupportedEncoding, "unsupported Content-Encoding; send gzip or no encoding")
        }
        let limit = maxRequestBytes
        let body = request.body
        // The read runs as a task of its own so that its deadline can cancel it (which ends the connection's
        // input) while this task still answers 408; the request's own cancellation reaches it too.
        let reader = Task { await Self.collect(body, gzip: gzip, limit: limit, charge: charge) }
        let deadline = deadlines.add(.now + bodyTimeout, progress: charge) { reader.cancel() }
        let result = await withTaskCancellationHandler {
            await reader.value
        } onCancel: {
            reader.cancel()
        }
        switch (deadlines.remove(deadline), result) {
        case (.timeout?, .failure):
            throw IngestError(
                .requestTimeout, "the request body did not arrive within \(Topology.label(bodyTimeout)); send the whole body without pausing")
        case (.tooSlow?, .failure):
            throw IngestError(
                .requestTimeout,
                "the request body arrived slower than \(deadlines.minimumRate) bytes/s (LOGPIPE_BODY_MIN_RATE); send the whole body without pausing")
        default:
            return try result.get()
        }
    }

    /// Reads the whole body, charging each chunk before it is kept.
    private static func collect(_ body: RequestBody, gzip: Bool, limit: Int, charge: BodyCharge) async -> Result<Data, IngestError> {
        let tooLarge = IngestError(.requestTooLarge, "the request body is larger than \(limit) bytes (decompressed)")
        let corrupt = IngestError(.invalidGzip, "the body is not a valid gzip stream")
        let unreadable = IngestError(.invalidBody, "the request body could not be read")
        var inflater: GzipInflater?
        if gzip {
            do { inflater = try GzipInflater(limit: limit) } catch { return .failure(corrupt) }
        }
        var data = Data()
        var received = 0
        do {
            for try await buffer in body {
                received += buffer.readableBytes
                guard received <= limit else { return .failure(tooLarge) }
                try await charge.take(buffer.readableBytes, received: true)
                if let inflater {
                    let before = inflater.output.count
                    var failure: GzipInflater.Failure?
                    buffer.withUnsafeReadableBytes { bytes in
                        do throws(GzipInflater.Failure) { try inflater.feed(bytes) } catch { failure = error }
                    }
                    if let failure { return .failure(failure == .tooLarge ? tooLarge : corrupt) }
                    try await charge.take(inflater.output.count - before)
                } else {
                    data.append(contentsOf: buffer.readableBytesView)
                }
            }
        } catch {
            return .failure(unreadable)  // the connection ended, or the read was cancelled by the timeout
        }
        guard let inflater else { return .success(data) }
        do throws(GzipInflater.Failure) {
            return .success(Data(try inflater.finish()))
        } catch {
            return .failure(error == .tooLarge ? tooLarge : corrupt)
        }
    }

    func readiness(_ request: Request) async -> Response {
        await ReadinessCheck.respond(checks, requestID: request.requestID)
    }
}

/// The content types `/ingest` accepts (parameters other than `charset=utf-8` are refused).
enum MediaType {
    case json
    case text
    case ndjson

    init(_ header: String?) throws(IngestError) {
        guard let header else {
            throw IngestError(.unsupportedMediaType, "set Content-Type to application/json, text/plain or application/x-ndjson")
        }
        switch header {  // the usual spellings, without parsing
        case "application/json": self = .json; return
        case "text/plain": self = .text; return
        case "application/x-ndjson": self = .ndjson; return
        default: break
        }
        let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else {
                throw IngestError(.unsupportedMediaType, "only the UTF-8 charset is accepted")
            }
        }
        switch parts.first {
        case "application/json": self = .json
        case "text/plain": self = .text
        case "application/x-ndjson": self = .ndjson
        default:
            throw IngestError(.unsupportedMediaType, "unsupported Content-Type; use application/json, text/plain or application/x-ndjson")
        }
    }
}

/// Renders the router's own errors (unknown route, wrong method, …) in the API's JSON error format.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            // The router answers an unsupported method on a known path with 404; that is a 405 with `Allow`.
            let methods = allowed.methods(for: request.uri.path)
            let status = error.status == .notFound && methods != nil ? .methodNotAllowed : error.status
            let ingestError =
                switch status {
                case .notFound: IngestError(.notFound, "no such route; see GET /openapi.yaml")
                case .methodNotAllowed: IngestError(.methodNotAllowed, "this route does not accept that method")
                case .contentTooLarge: IngestError(.requestTooLarge, "the request body is too large")
                default: IngestError(.internalError, "the request could not be handled")
                }
            var response = APIResponses.error(ingestError, requestID: request.requestID)
            if status == .methodNotAllowed, let methods {
                response.headers[.allow] = methods
            }
            return response
        }
    }
}

/// The methods each route path answers, for the `Allow` header of a 405.
final class AllowedMethods: Sendable {
    private let table = Mutex<[String: String]>([:])

    func record(_ routes: [(path: String, method: String)]) {
        let grouped = Dictionary(grouping: routes, by: \.path).mapValues { $0.map(\.method).sorted().joined(separator: ", ") }
        table.withLock { $0 = grouped }
    }

    /// The methods of `path`, matched against the routes' templates (`/loki/api/v1/label/{name}/values`).
    func methods(for path: String) -> String? {
        table.withLock { table in
            if let exact = table[path] { return exact }
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            return table.first { template, _ in
                let pattern = template.split(separator: "/", omittingEmptySubsequences: false)
                return pattern.count == parts.count && zip(pattern, parts).allSatisfy { $0 == $1 || ($0.hasPrefix("{") && $0.hasSuffix("}") && !$1.isEmpty) }
            }?.value
        }
    }
}
