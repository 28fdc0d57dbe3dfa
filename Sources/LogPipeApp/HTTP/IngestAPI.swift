import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import LogPipeCore
import Logging
import NIOCore
import ShipperProtocols

/// The HTTP API: `POST /ingest`, `POST /v1/logs` (OTLP) and `POST /loki/api/v1/push` (ShipperEndpoints.swift), `GET /health`,
/// `GET /readiness`, `GET /openapi.yaml`, and the Loki read API (Loki/LokiReadAPI.swift) (docs/api.md). Access, request ids
/// and error answers are middleware (APIMiddleware.swift); bodies are read by ``BodyReader``.
public struct IngestAPI: Sendable {
    let publisher: any LogPublisher
    let parser: IngestParser
    /// The publisher's check, then those of anything else running in the process (a worker in `serve`).
    let checks: [ReadinessCheck]
    /// Tenant API keys; `nil` = no authentication.
    let keys: APIKeyStore?
    let limiter: TenantRateLimiter
    /// Request bodies being worked on at once, in bytes (`LOGPIPE_MAX_INFLIGHT_BYTES`).
    let budget: BodyBudget
    let bodies: BodyReader
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
        self.parser = IngestParser(maxLogBytes: configuration.maxLogBytes, maxBatchLogs: configuration.limits.maxBatchLogs)
        self.checks = [.publisher(publisher)] + extraChecks
        self.keys = keys
        self.limiter = TenantRateLimiter(limits: rateLimits ?? configuration.limits.rateLimits)
        self.budget = BodyBudget(capacity: configuration.limits.maxInFlightBytes)
        self.bodies = BodyReader(
            maxRequestBytes: configuration.limits.maxRequestBytes, timeout: configuration.limits.bodyTimeout, minimumRate: configuration.limits.bodyMinimumRate)
        self.otlpTenantAttribute = configuration.http.otlpTenantAttribute
        self.shipperLimits = ShipperLimits(
            records: configuration.limits.maxBatchLogs, decodedBytes: configuration.limits.maxDecodedBytes, expandedBytes: configuration.limits.maxRequestBytes)
        self.connections = ConnectionLimiter(
            maxConnections: Self.connectionCap(configuration.http.maxConnections), maxPerClient: configuration.http.maxConnectionsPerClient)
        self.readAPI = LokiReadAPI(
            runner: reader.map { LokiQueryRunner(reader: $0, maxLogs: configuration.limits.readMaxLogs) },
            access: ReadAccess(keys: keys, allowedNetworks: configuration.http.readAllowedNetworks))
    }

    /// The HTTP server on `configuration`'s address. Idle keep-alive connections, and connections that stall
    /// between or inside requests, are closed after `httpIdleTimeout`; header sizes and counts keep NIO's
    /// decoder limits (a request past them gets 400 and its connection is closed); connections over the caps
    /// are answered 503 `too_many_connections` and closed. With `tls`, HTTPS only.
    public func application(configuration: LogPipeConfiguration, logger: Logger, tls: TLSCertificateStore? = nil) -> some ApplicationProtocol {
        let idleTimeout = TimeAmount.milliseconds(DurationText.milliseconds(configuration.http.idleTimeout))
        let http1 = HTTP1Channel.Configuration(idleTimeout: idleTimeout)
        let refused: @Sendable () -> Void = { [metrics] in metrics?.rejected(code: IngestError.Code.tooManyConnections.rawValue) }
        return Application(
            router: router(),
            server: HTTPServerBuilder.limited(http1, tls: tls, limiter: connections, onRefused: refused, upgrade: readAPI.upgrade),
            configuration: .init(address: .hostname(configuration.http.host, port: configuration.http.port), serverName: "logpipe"),
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
        router.add(middleware: APIErrorMiddleware(allowed: allowed, metrics: metrics))
        router.group().add(middleware: WriteAccessMiddleware(keys: keys, budget: budget))
            .post("/ingest") { request, context in try await ingest(request, context: context) }
            .post("/v1/logs") { request, context in try await otlpLogs(request, context: context) }
            .post("/loki/api/v1/push") { request, context in try await lokiPush(request, context: context) }
        router.get("/health") { _, context in APIResponses.health(requestID: context.requestID) }
        router.get("/readiness") { _, context in await ReadinessCheck.respond(checks, requestID: context.requestID) }
        router.get("/openapi.yaml") { _, context in OpenAPISpec.response(requestID: context.requestID) }
        if let metrics { router.get("/metrics") { _, _ in metrics.response() } }
        readAPI.register(on: router)
        allowed.record(router.routes.map { ("\($0.path)", $0.method.rawValue) })
        return router
    }

    /// `POST /ingest`: one log (JSON or plain text) or a batch (a JSON array, `{"logs": […]}` or NDJSON); 202
    /// once the broker confirmed every log.
    func ingest(_ request: Request, context: APIRequestContext) async throws(IngestError) -> Response {
        let mediaType = try MediaType(request.headers.value(.contentType))
        let body = try await bodies.read(request, context: context)
        // A large body's parsed logs take at least twice its bytes again (attributes most: a dictionary entry per
        // member), held until the broker confirms; charged before they are built, like the shippers' decoded
        // forms (at most the budget's capacity), so large batches take turns at being parsed and published.
        // Small bodies are not worth the charge.
        if body.count >= Self.chargedDecodeBytes { try await bodies.takeDecoded(body.count * 2, context: context) }
        let tenant = request.tenantHeader
        let fallback = context.grant?.onlyTenant
        let inputs: [LogInput]
        let isBatch: Bool
        switch mediaType {
        case .json: (inputs, isBatch) = try parser.parseJSONBody(body, headerTenant: tenant, defaultTenant: fallback)
        case .ndjson: (inputs, isBatch) = (try parser.parseNDJSON(body, headerTenant: tenant, defaultTenant: fallback), true)
        case .text:
            let logID = request.headers.nonEmpty(APIResponses.logIDHeader)
            (inputs, isBatch) = ([try parser.parseText(body, headerTenant: tenant, headerLogID: logID, defaultTenant: fallback)], false)
        }
        let records = try await accept(inputs, context: context, asBatch: isBatch, endpoint: "ingest")
        return isBatch ? APIResponses.accepted(batch: records, requestID: context.requestID) : APIResponses.accepted(records[0])
    }

    /// Bodies from this size on have their parsed form charged to the body budget.
    static let chargedDecodeBytes = 64 << 10

    /// What every write route does once it has valid logs: the key's tenants, the rate limits, the records (the
    /// request's receive time, log ids), and the publish, which returns once the broker confirmed every message
    /// (a single log alone, or batch chunks). Counted per tenant and route.
    func accept(_ inputs: [LogInput], context: APIRequestContext, asBatch: Bool, endpoint: String) async throws(IngestError) -> [LogRecord] {
        var costs: [TenantID: (logs: Int, bytes: Int)] = [:]
        for input in inputs {
            if let grant = context.grant, !grant.allows(input.tenantID) {
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
        let records = LogInput.records(inputs, requestID: context.requestID, receivedAt: context.receivedAt)
        let publishStart = ContinuousClock.now
        defer { metrics?.confirmLatency(ContinuousClock.now - publishStart) }
        do throws(PublishFailure) {
            if asBatch || records.count != 1 {
                try await publisher.publish(batch: records)
            } else {
                try await publisher.publish(records[0])
            }
        } catch {
            throw IngestError(error)
        }
        for (tenant, cost) in costs { metrics?.accepted(tenant: tenant, logs: cost.logs, bytes: cost.bytes, endpoint: endpoint) }
        context.logger.debug(
            "logs accepted",
            metadata: [
                "request.id": "\(context.requestID)", "http.route": "\(endpoint)", "batch.logs": "\(records.count)",
                "log.id": "\(records.count == 1 ? records[0].logID : "")",
            ])
        return records
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
