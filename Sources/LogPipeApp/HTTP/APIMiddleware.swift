import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import Logging
import Synchronization

// The API's middleware, in the order a request meets it: its id and the error answers, then the access of the
// write or the read routes. Handlers throw ``IngestError``s; only this layer turns them into answers.

/// First on every route: gives the request its id, computed once (``Request/requestID``), and answers every
/// error in the API's JSON shape (the read routes' in Loki's, ``ReadError``), counts refused writes by code, and
/// logs each refusal (a warning for a 5xx). The router's own errors (unknown route, wrong method) become
/// `not_found` and `method_not_allowed` with `Allow`. (One middleware, not two: each layer costs every request.)
struct APIErrorMiddleware: RouterMiddleware {
    let allowed: AllowedMethods
    let metrics: LogPipeMetrics?

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        context.requestID = request.requestID
        do {
            return try await next(request, context)
        } catch let error as IngestError {
            metrics?.rejected(code: error.code.rawValue)
            Self.log(error, "request refused", context)
            return try error.response(from: request, context: context)
        } catch let error as ReadError {
            Self.log(error.error, "read refused", context)
            return try error.response(from: request, context: context)
        } catch let error as HTTPError {
            // The router answers an unsupported method on a known path with 404; that is a 405 with `Allow`.
            let methods = allowed.methods(for: request.uri.path)
            let status = error.status == .notFound && methods != nil ? .methodNotAllowed : error.status
            let answer =
                switch status {
                case .notFound: IngestError(.notFound, "no such route; see GET /openapi.yaml")
                case .methodNotAllowed: IngestError(.methodNotAllowed, "this route does not accept that method")
                case .contentTooLarge: IngestError(.requestTooLarge, "the request body is too large")
                default: IngestError(.internalError, "the request could not be handled")
                }
            var response = try answer.response(from: request, context: context)
            if status == .methodNotAllowed, let methods { response.headers[.allow] = methods }
            return response
        } catch {
            context.logger.error("request failed", metadata: ["request.id": "\(context.requestID)", "error.type": "\(type(of: error))"])
            return try IngestError(.internalError, "the request could not be handled").response(from: request, context: context)
        }
    }

    private static func log(_ error: IngestError, _ message: Logger.Message, _ context: APIRequestContext) {
        context.logger.log(
            level: error.httpStatus.code >= 500 ? .warning : .debug, message,
            metadata: [
                "request.id": "\(context.requestID)", "http.route": "\(context.endpointPath ?? "")", "error.code": "\(error.code)",
                "http.status": "\(error.httpStatus.code)",
            ])
    }
}

/// The write routes' access: with keys, the key's grant (401 without a known key, 403 for a key without the
/// ingest scope); then the request's charge on the body budget, within its client's share (the key, else the
/// peer's address), held until the answer is made.
struct WriteAccessMiddleware: RouterMiddleware {
    let keys: APIKeyStore?
    let budget: BodyBudget

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        var context = context
        if let keys {
            let entry = try keys.entry(authorization: request.headers.value(.authorization))
            guard entry.scopes.contains(.ingest) else {
                throw IngestError(.scopeNotAllowed, "this API key may not send logs (it has no ingest scope)")
            }
            context.grant = entry
        }
        let charge = BodyCharge(budget: budget, client: context.budgetClient)
        defer { charge.releaseAll() }
        context.charge = charge
        return try await next(request, context)
    }
}

/// The read routes' access (``ReadAccess``): the tenant the request may read, or a ``ReadError``; every
/// refusal and answer of a read route is in Loki's shape.
struct ReadAccessMiddleware: RouterMiddleware {
    let access: ReadAccess

    func handle(
        _ request: Request, context: APIRequestContext, next: (Request, APIRequestContext) async throws -> Response
    ) async throws -> Response {
        let started = ContinuousClock.now
        var context = context
        do {
            let tenant = try access.tenant(headers: request.headers, peer: context.remoteAddress?.ipAddress)
            context.readTenant = tenant
            let response = try await next(request, context)
            context.logger.debug(
                "read answered",
                metadata: [
                    "request.id": "\(context.requestID)", "tenant.id": "\(tenant)", "http.route": "\(context.endpointPath ?? "")",
                    "duration_ms": "\(Int((ContinuousClock.now - started) / .milliseconds(1)))",
                ])
            return response
        } catch let error as IngestError {
            throw ReadError(error: error)
        }
    }
}

extension APIRequestContext {
    /// The tenant ``ReadAccessMiddleware`` allowed (a read route without it is a wiring mistake: 500).
    func tenantToRead() throws(IngestError) -> TenantID {
        guard let readTenant else { throw IngestError(.internalError, "the request could not be handled") }
        return readTenant
    }

    /// What the request holds of the body budget (a write route without it is a wiring mistake: 500).
    func bodyCharge() throws(IngestError) -> BodyCharge {
        guard let charge else { throw IngestError(.internalError, "the request could not be handled") }
        return charge
    }
}

/// The API's errors, answered in its JSON shape (docs/api.md) with their status, `Retry-After` and
/// `WWW-Authenticate`.
extension IngestError: HTTPResponseError {
    public var status: HTTPResponse.Status { httpStatus }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        APIResponses.error(self, requestID: (context as? APIRequestContext)?.requestID ?? request.requestID)
    }
}

/// An error of a read route, answered in the shape of Loki's errors.
struct ReadError: HTTPResponseError {
    let error: IngestError

    var status: HTTPResponse.Status { error.httpStatus }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        LokiResponses.error(error, requestID: (context as? APIRequestContext)?.requestID ?? request.requestID)
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
