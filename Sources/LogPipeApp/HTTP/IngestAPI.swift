import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import Logging
import NIOCore
import Synchronization

/// The HTTP API: `POST /ingest`, `GET /health`, `GET /readiness`, `GET /openapi.yaml` (DESIGN §2).
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
    /// When set: `GET /metrics`, and requests, accepted logs, rejections and confirm latency are counted.
    let metrics: LogPipeMetrics?

    public init(publisher: any LogPublisher, configuration: LogPipeConfiguration, extraChecks: [ReadinessCheck] = [],
                keys: APIKeyStore? = nil, rateLimits: RateLimits? = nil, metrics: LogPipeMetrics? = nil) {
        self.metrics = metrics
        self.publisher = publisher
        self.parser = IngestParser(maxLogBytes: configuration.maxLogBytes, maxBatchLogs: configuration.maxBatchLogs)
        self.maxRequestBytes = configuration.maxRequestBytes
        self.checks = [.publisher(publisher)] + extraChecks
        self.keys = keys
        self.limiter = TenantRateLimiter(limits: rateLimits ?? configuration.rateLimits)
        self.budget = BodyBudget(capacity: configuration.maxInFlightBytes)
    }

    /// A router with every route and JSON errors for unknown routes and methods.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        let allowed = AllowedMethods()
        if let metrics { router.add(middleware: RequestMetricsMiddleware(metrics: metrics)) }
        router.add(middleware: JSONErrorMiddleware(allowed: allowed))
        router.post("/ingest") { request, context in await ingest(request, context: context) }
        router.get("/health") { request, _ in
            APIResponses.json(.ok, ["status": "ok"], requestID: request.requestID)
        }
        router.get("/readiness") { request, _ in await readiness(request) }
        router.get("/openapi.yaml") { request, _ in OpenAPISpec.response(requestID: request.requestID) }
        if let metrics { router.get("/metrics") { _, _ in metrics.response() } }
        allowed.record(router.routes.map { ("\($0.path)", $0.method.rawValue) })
        return router
    }

    func ingest(_ request: Request, context: BasicRequestContext) async -> Response {
        let requestID = request.requestID
        let receivedAt = UnixTime.now
        do throws(IngestError) {
            let grant = try authenticate(request)
            let mediaType = try MediaType(request.headers[.contentType])
            // Memory stays bounded under overload: past the budget, requests wait here before their body is read.
            let share = await budget.acquire(Self.workingBytes(request))
            defer { budget.release(share) }
            let body = try await readBody(request)
            // An empty header counts as absent (as empty environment variables do).
            let headerTenant = request.headers[APIResponses.tenantHeader].flatMap { $0.isEmpty ? nil : $0 }
            let inputs: [LogInput]
            switch mediaType {
            case .json:
                inputs = [try parser.parseJSON(body, headerTenant: headerTenant, defaultTenant: grant?.onlyTenant)]
            case .text:
                inputs = [try parser.parseText(body, headerTenant: headerTenant, headerLogID: request.headers[APIResponses.logIDHeader].flatMap { $0.isEmpty ? nil : $0 },
                                               defaultTenant: grant?.onlyTenant)]
            case .ndjson:
                inputs = try parser.parseNDJSON(body, headerTenant: headerTenant, defaultTenant: grant?.onlyTenant)
            }
            var costs: [TenantID: (logs: Int, bytes: Int)] = [:]
            for input in inputs {
                if let grant, !grant.allows(input.tenantID) {
                    throw IngestError(.tenantNotAllowed, "this API key may not write tenant '\(input.tenantID)'")
                }
                costs[input.tenantID, default: (0, 0)].logs += 1
                costs[input.tenantID, default: (0, 0)].bytes += input.text.utf8.count
            }
            if let wait = limiter.admit(costs) {
                throw IngestError(.rateLimited, "the tenant is over its ingestion rate; retry after the Retry-After seconds",
                                  retryAfterSeconds: max(1, Int(wait.rounded(.up))))
            }
            let records = LogInput.records(inputs, requestID: requestID, receivedAt: receivedAt)
            let publishStart = ContinuousClock.now
            defer {
                if let metrics {
                    metrics.confirmLatency(ContinuousClock.now - publishStart)
                }
            }
            if mediaType == .ndjson {
                try await publisher.publish(batch: records)
                for (tenant, cost) in costs { metrics?.accepted(tenant: tenant, logs: cost.logs, bytes: cost.bytes) }
                context.logger.debug("batch accepted", metadata: [
                    "request.id": "\(requestID)", "batch.logs": "\(records.count)", "request.bytes": "\(body.count)"])
                return APIResponses.accepted(batch: records, requestID: requestID)
            }
            let record = records[0]
            try await publisher.publish(record)
            metrics?.accepted(tenant: record.tenantID, logs: 1, bytes: record.text.utf8.count)
            context.logger.debug("log accepted", metadata: [
                "request.id": "\(requestID)", "tenant.id": "\(record.tenantID)", "log.id": "\(record.logID)",
                "log.bytes": "\(record.text.utf8.count)"])
            return APIResponses.accepted(record)
        } catch {
            metrics?.rejected(code: error.code.rawValue)
            let level: Logger.Level = error.status >= 500 ? .warning : .debug
            context.logger.log(level: level, "ingest rejected", metadata: [
                "request.id": "\(requestID)", "error.code": "\(error.code)", "http.status": "\(error.status)"])
            return APIResponses.error(error, requestID: requestID)
        }
    }

    /// With keys configured: the key's grant, or 401. Without: nil (every tenant may write).
    private func authenticate(_ request: Request) throws(IngestError) -> APIKeyTable.Entry? {
        guard let keys else { return nil }
        guard let header = request.headers[.authorization] else {
            throw IngestError(.missingAPIKey, "this API requires a key: send Authorization: Bearer <key>")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw IngestError(.missingAPIKey, "send the key as Authorization: Bearer <key>")
        }
        guard let entry = keys.current.lookup(parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw IngestError(.invalidAPIKey, "the API key is not valid (unknown or revoked)")
        }
        return entry
    }

    /// The body, decompressed when `Content-Encoding: gzip`; the request limit applies to the decompressed
    /// size, and decompression stops as soon as it is passed.
    /// What a request is expected to hold while it is worked on: its declared length (a gzipped body about four
    /// times that), or 64 KiB when the length is not declared.
    static func workingBytes(_ request: Request) -> Int {
        guard let length = request.headers[.contentLength].flatMap(Int.init) else { return 64 << 10 }
        switch contentEncoding(request) {
        case nil, "", "identity": return length
        default: return length * 4
        }
    }

    /// The `Content-Encoding`, trimmed and lowercased; `nil` when absent.
    static func contentEncoding(_ request: Request) -> String? {
        request.headers[.contentEncoding]?.trimmingCharacters(in: .whitespaces).lowercased()
    }

    private func readBody(_ request: Request) async throws(IngestError) -> Data {
        let tooLarge = IngestError(.requestTooLarge, "the request body is larger than \(maxRequestBytes) bytes (decompressed)")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxRequestBytes { throw tooLarge }
        switch Self.contentEncoding(request) {
        case nil, "", "identity":
            do {
                return Data(try await request.body.collect(upTo: maxRequestBytes).readableBytesView)
            } catch is NIOTooManyBytesError {
                throw tooLarge
            } catch {
                throw IngestError(.invalidBody, "the request body could not be read")
            }
        case "gzip", "x-gzip":
            let corrupt = IngestError(.invalidGzip, "the body is not a valid gzip stream")
            var failure: GzipInflater.Failure?
            let inflater: GzipInflater
            do { inflater = try GzipInflater(limit: maxRequestBytes) } catch { throw corrupt }
            var compressed = 0
            do {
                for try await buffer in request.body {
                    compressed += buffer.readableBytes
                    guard compressed <= maxRequestBytes else { throw tooLarge }
                    buffer.withUnsafeReadableBytes { bytes in
                        do throws(GzipInflater.Failure) { try inflater.feed(bytes) } catch { failure = error }
                    }
                    if failure != nil { break }
                }
            } catch let error as IngestError {
                throw error
            } catch {
                throw IngestError(.invalidBody, "the request body could not be read")
            }
            do throws(GzipInflater.Failure) {
                if let failure { throw failure }
                return Data(try inflater.finish())
            } catch {
                throw error == .tooLarge ? tooLarge : corrupt
            }
        default:
            throw IngestError(.unsupportedEncoding, "unsupported Content-Encoding; send gzip or no encoding")
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
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext
    let allowed: AllowedMethods

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            // The router answers an unsupported method on a known path with 404; that is a 405 with `Allow`.
            let methods = allowed.methods(for: request.uri.path)
            let status = error.status == .notFound && methods != nil ? .methodNotAllowed : error.status
            let ingestError = switch status {
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

    func methods(for path: String) -> String? { table.withLock { $0[path] } }
}
