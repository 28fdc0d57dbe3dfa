import Hummingbird
import LogPipeCore

/// The worker's own small HTTP server (`LOGPIPE_WORKER_HTTP_PORT`, default 8001): `/health`, `/readiness`
/// (its broker connection and the store) and `/metrics`, for container health checks and Prometheus.
struct OpsAPI: Sendable {
    let checks: [ReadinessCheck]
    let metrics: LogPipeMetrics

    func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/health") { request, _ in APIResponses.health(requestID: request.requestID) }
        router.get("/readiness") { request, _ in await ReadinessCheck.respond(checks, requestID: request.requestID) }
        router.get("/metrics") { _, _ in metrics.response() }
        return router
    }
}

extension LogPipeMetrics {
    /// `GET /metrics`: the Prometheus text format.
    func response() -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: exposition())))
    }
}

/// Counts every answer by method, route pattern (never the raw path: bounded labels) and status.
struct RequestMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: LogPipeMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            let response = try await next(request, context)
            metrics.request(method: request.method.rawValue, route: context.endpointPath ?? "unknown", status: Int(response.status.code))
            return response
        } catch {
            metrics.request(
                method: request.method.rawValue, route: context.endpointPath ?? "unknown",
                status: Int((error as? any HTTPResponseError)?.status.code ?? 500))
            throw error
        }
    }
}
