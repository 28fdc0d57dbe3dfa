import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import Logging
import NIOCore

/// The HTTP API: `POST /ingest`, `GET /health`, `GET /readiness` (DESIGN §2).
public struct IngestAPI: Sendable {
    let publisher: any LogPublisher
    let parser: IngestParser
    let maxRequestBytes: Int
    /// The publisher's check, then those of anything else running in the process (a worker in `serve`).
    let checks: [ReadinessCheck]

    public init(publisher: any LogPublisher, configuration: LogPipeConfiguration, extraChecks: [ReadinessCheck] = []) {
        self.publisher = publisher
        self.parser = IngestParser(maxLogBytes: configuration.maxLogBytes)
        self.maxRequestBytes = configuration.maxRequestBytes
        self.checks = [.publisher(publisher)] + extraChecks
    }

    /// A router with every route and JSON errors for unknown routes and methods.
    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.add(middleware: JSONErrorMiddleware())
        router.post("/ingest") { request, context in await ingest(request, context: context) }
        router.get("/health") { request, _ in
            APIResponses.json(.ok, ["status": "ok"], requestID: request.requestID)
        }
        router.get("/readiness") { request, _ in await readiness(request) }
        return router
    }

    func ingest(_ request: Request, context: BasicRequestContext) async -> Response {
        let requestID = request.requestID
        let receivedAt = UnixTime.now
        do throws(IngestError) {
            let input = try await parse(request)
            let record = input.record(requestID: requestID, receivedAt: receivedAt)
            try await publisher.publish(record)
            context.logger.debug("log accepted", metadata: [
                "request.id": "\(requestID)", "tenant.id": "\(record.tenantID)", "log.id": "\(record.logID)",
                "log.bytes": "\(record.text.utf8.count)"])
            return APIResponses.accepted(record)
        } catch {
            let level: Logger.Level = error.status >= 500 ? .warning : .debug
            context.logger.log(level: level, "ingest rejected", metadata: [
                "request.id": "\(requestID)", "error.code": "\(error.code)", "http.status": "\(error.status)"])
            return APIResponses.error(error, requestID: requestID)
        }
    }

    private func parse(_ request: Request) async throws(IngestError) -> LogInput {
        let mediaType = try MediaType(request.headers[.contentType])
        let tooLarge = IngestError(.requestTooLarge, "the request body is larger than \(maxRequestBytes) bytes")
        if let length = request.headers[.contentLength].flatMap(Int.init), length > maxRequestBytes { throw tooLarge }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxRequestBytes)
        } catch is NIOTooManyBytesError {
            throw tooLarge
        } catch {
            throw IngestError(.invalidBody, "the request body could not be read")
        }
        let body = Data(buffer.readableBytesView)
        let headerTenant = request.headers[APIResponses.tenantHeader]
        switch mediaType {
        case .json:
            return try parser.parseJSON(body, headerTenant: headerTenant)
        case .text:
            return try parser.parseText(body, headerTenant: headerTenant, headerLogID: request.headers[APIResponses.logIDHeader])
        }
    }

    /// 200 when every check passes; else 503 naming the first failing check, with every check's state.
    func readiness(_ request: Request) async -> Response {
        var results: [String: Any] = [:]
        var failing: String?
        for check in checks {
            if let detail = await check.probe() {
                results[check.name] = ["ok": false, "detail": detail]
                failing = failing ?? check.name
            } else {
                results[check.name] = ["ok": true]
            }
        }
        if let failing {
            return APIResponses.json(.serviceUnavailable, ["status": "not_ready", "failing_check": failing, "checks": results],
                                     requestID: request.requestID, extraHeaders: [.retryAfter: "1"])
        }
        return APIResponses.json(.ok, ["status": "ready", "checks": results], requestID: request.requestID)
    }
}

/// The content types `/ingest` accepts (parameters other than `charset=utf-8` are refused).
enum MediaType {
    case json
    case text

    init(_ header: String?) throws(IngestError) {
        guard let header else {
            throw IngestError(.unsupportedMediaType, "set Content-Type to application/json or text/plain")
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
        default:
            throw IngestError(.unsupportedMediaType, "unsupported Content-Type; use application/json or text/plain")
        }
    }
}

/// Renders the router's own errors (unknown route, wrong method, …) in the API's JSON error format.
struct JSONErrorMiddleware: RouterMiddleware {
    typealias Context = BasicRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            let ingestError = switch error.status {
            case .notFound: IngestError(.notFound, "no such route; see GET /openapi.yaml")
            case .methodNotAllowed: IngestError(.methodNotAllowed, "this route does not accept that method")
            case .contentTooLarge: IngestError(.requestTooLarge, "the request body is too large")
            default: IngestError(.internalError, "the request could not be handled")
            }
            return APIResponses.error(ingestError, requestID: request.requestID)
        }
    }
}
