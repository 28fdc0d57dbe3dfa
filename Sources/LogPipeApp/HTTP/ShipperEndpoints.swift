import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import NIOCore
import ShipperProtocols

/// The shippers' endpoints (docs/api.md): OTLP/HTTP logs and the Loki push API. They share `/ingest`'s keys, limits, gzip rules,
/// body budget, rate limits and 202-after-confirm guarantee (``IngestAPI/accept(_:grant:requestID:receivedAt:asBatch:endpoint:)``);
/// only the body format and the answers differ.
extension IngestAPI {
    /// `POST /v1/logs`: 200 with an `ExportLogsServiceResponse` in the request's encoding once every accepted
    /// record is confirmed by the broker (records that cannot be logs are counted in `partialSuccess`); 400 when
    /// the body is not a request or no record can be taken; 429/503 with `Retry-After`, which OTLP exporters retry.
    func otlpLogs(_ request: Request, context: APIRequestContext) async -> Response {
        let requestID = request.requestID
        let receivedAt = UnixTime.now
        do throws(IngestError) {
            let grant = try authenticate(request)
            let json = try Self.otlpEncoding(request.headers.value(.contentType))
            let charge = BodyCharge(budget: budget, client: context.budgetClient(grant: grant))
            defer { charge.releaseAll() }
            let body = try await readBody(request, charge: charge)
            // What the request will take decoded is known, limited and charged before it is decoded.
            try await takeDecoded(try OTLPLogs.inspect(body, json: json, limits: shipperLimits), charge: charge)
            guard let export = json ? OTLPLogs.decode(json: body) : OTLPLogs.decode(protobuf: body) else {
                throw IngestError(
                    .invalidOTLP,
                    json
                        ? "the body is not an OTLP ExportLogsServiceRequest in the OTLP JSON mapping"
                        : "the body is not a protobuf OTLP ExportLogsServiceRequest")
            }
            let headerTenant = request.headers.value(APIResponses.tenantHeader).flatMap { $0.isEmpty ? nil : $0 }
            let mapped = try OTLPLogs.inputs(
                export, headerTenant: headerTenant, defaultTenant: grant?.onlyTenant,
                tenantAttribute: otlpTenantAttribute, parser: parser, fromJSON: json, limits: shipperLimits,
                allows: { tenant in grant?.allows(tenant) ?? true }, shouldStop: { context.clientGone || Task.isCancelled })
            if mapped.inputs.isEmpty {
                // Nothing to take: an empty request is a success (exporters send them), records that all fail are not.
                if let error = mapped.firstError { throw error }
                return Self.otlpResponse(rejected: 0, message: nil, json: json, requestID: requestID)
            }
            let records = try await accept(
                mapped.inputs, grant: grant, requestID: requestID, receivedAt: receivedAt, asBatch: true,
                endpoint: "otlp")
            context.logger.debug(
                "otlp logs accepted",
                metadata: [
                    "request.id": "\(requestID)", "batch.logs": "\(records.count)", "otlp.rejected": "\(mapped.rejected)",
                    "request.bytes": "\(body.count)",
                ])
            return Self.otlpResponse(
                rejected: mapped.rejected, message: mapped.firstError.map { "\($0.code): \($0.message)" },
                json: json, requestID: requestID)
        } catch {
            metrics?.rejected(code: error.code.rawValue)
            context.logger.log(
                level: error.httpStatus.code >= 500 ? .warning : .debug, "otlp logs rejected",
                metadata: [
                    "request.id": "\(requestID)", "error.code": "\(error.code)", "http.status": "\(error.httpStatus.code)",
                ])
            return APIResponses.error(error, requestID: requestID)
        }
    }

    /// `application/x-protobuf` (OTLP's default) or `application/json`; true for JSON.
    static func otlpEncoding(_ header: String?) throws(IngestError) -> Bool {
        let type = header?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        switch type {
        case "application/x-protobuf", "application/protobuf": return false
        case "application/json": return true
        default:
            throw IngestError(.unsupportedMediaType, "OTLP/HTTP takes Content-Type application/x-protobuf or application/json")
        }
    }

    static func otlpResponse(rejected: Int, message: String?, json: Bool, requestID: String) -> Response {
        let body = OTLPLogs.response(rejected: rejected, message: message, json: json)
        let headers: HTTPFields = [.contentType: json ? "application/json" : "application/x-protobuf", APIResponses.requestIDHeader: requestID]
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static let scopeOrgIDHeader = HTTPField.Name("X-Scope-OrgID")!

    /// `POST /loki/api/v1/push`: 204 once the broker confirmed every entry; 400 for a body that is not a push
    /// or holds a bad entry (nothing is published then); 429/503 with `Retry-After`, which Loki clients retry.
    func lokiPush(_ request: Request, context: APIRequestContext) async -> Response {
        let requestID = request.requestID
        let receivedAt = UnixTime.now
        do throws(IngestError) {
            let grant = try authenticate(request)
            let type = request.headers.value(.contentType)?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
            guard type == "application/x-protobuf" || type == "application/json" else {
                throw IngestError(.unsupportedMediaType, "the Loki push API takes Content-Type application/x-protobuf (snappy) or application/json")
            }
            let charge = BodyCharge(budget: budget, client: context.budgetClient(grant: grant))
            defer { charge.releaseAll() }
            let body = try await readBody(request, charge: charge)
            let streams: [LokiPush.Stream]
            if type == "application/json" {
                // Bounded while decoding (entries, streams, labels), charged once decoded.
                streams = try LokiPush.decode(json: body, limits: shipperLimits)
                try await takeDecoded(LokiPush.decodedSize(streams), charge: charge)
            } else {
                // What the snappy block expands to is charged to the body budget, like an inflated gzip body,
                // and so is what its protobuf decodes to, before it is decoded.
                if let length = LokiPush.decompressedLength(body), length <= maxRequestBytes {
                    try await takeDecoded(length, charge: charge)
                }
                let raw = try LokiPush.decompress(snappy: body, limit: maxRequestBytes)
                try await takeDecoded(try LokiPush.inspect(protobuf: raw, limits: shipperLimits), charge: charge)
                streams = try LokiPush.decode(protobuf: raw)
            }
            func header(_ name: HTTPField.Name) -> String? { request.headers.value(name).flatMap { $0.isEmpty ? nil : $0 } }
            let inputs = try LokiPush.inputs(
                streams, orgID: header(Self.scopeOrgIDHeader), headerTenant: header(APIResponses.tenantHeader),
                defaultTenant: grant?.onlyTenant, parser: parser, limits: shipperLimits,
                shouldStop: { context.clientGone || Task.isCancelled })
            if !inputs.isEmpty {
                let records = try await accept(
                    inputs, grant: grant, requestID: requestID, receivedAt: receivedAt, asBatch: true,
                    endpoint: "loki")
                context.logger.debug(
                    "loki push accepted",
                    metadata: [
                        "request.id": "\(requestID)", "batch.logs": "\(records.count)", "request.bytes": "\(body.count)",
                    ])
            }
            return Response(status: .noContent, headers: [APIResponses.requestIDHeader: requestID])
        } catch {
            metrics?.rejected(code: error.code.rawValue)
            context.logger.log(
                level: error.httpStatus.code >= 500 ? .warning : .debug, "loki push rejected",
                metadata: [
                    "request.id": "\(requestID)", "error.code": "\(error.code)", "http.status": "\(error.httpStatus.code)",
                ])
            return APIResponses.error(error, requestID: requestID)
        }
    }

    /// Charges what a request's decoded form takes to the body budget, waiting for room like its body did.
    func takeDecoded(_ bytes: Int, charge: BodyCharge) async throws(IngestError) {
        do {
            try await charge.takeDecoded(bytes)
        } catch {
            throw ShipperLimits.abandoned  // cancelled while waiting: the client went away or the server stops
        }
    }
}
