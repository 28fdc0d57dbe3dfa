import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import NIOCore
import ShipperProtocols

/// The shippers' endpoints (docs/api.md): OTLP/HTTP logs and the Loki push API. They share `/ingest`'s keys, limits, gzip rules,
/// body budget, rate limits and answer-after-confirm guarantee (``IngestAPI/accept(_:context:asBatch:endpoint:)``); only the
/// body format and the answers differ.
extension IngestAPI {
    /// `POST /v1/logs`: 200 with an `ExportLogsServiceResponse` in the request's encoding once every accepted
    /// record is confirmed by the broker (records that cannot be logs are counted in `partialSuccess`); 400 when
    /// the body is not a request or no record can be taken; 429/503 with `Retry-After`, which OTLP exporters retry.
    func otlpLogs(_ request: Request, context: APIRequestContext) async throws(IngestError) -> Response {
        let json = try Self.otlpEncoding(request.headers.value(.contentType))
        let body = try await bodies.read(request, context: context)
        // What the request will take decoded is known, limited and charged before it is decoded.
        try await bodies.takeDecoded(try OTLPLogs.inspect(body, json: json, limits: shipperLimits), context: context)
        guard let export = json ? OTLPLogs.decode(json: body) : OTLPLogs.decode(protobuf: body) else {
            throw IngestError(
                .invalidOTLP,
                json ? "the body is not an OTLP ExportLogsServiceRequest in the OTLP JSON mapping" : "the body is not a protobuf OTLP ExportLogsServiceRequest")
        }
        let grant = context.grant
        let mapped = try OTLPLogs.inputs(
            export, headerTenant: request.tenantHeader, defaultTenant: grant?.onlyTenant, tenantAttribute: otlpTenantAttribute,
            parser: parser, fromJSON: json, limits: shipperLimits, allows: { tenant in grant?.allows(tenant) ?? true },
            shouldStop: { context.clientGone || Task.isCancelled })
        // Nothing to take: an empty request is a success (exporters send them), records that all fail are not.
        guard !mapped.inputs.isEmpty else {
            if let error = mapped.firstError { throw error }
            return Self.otlpResponse(rejected: 0, message: nil, json: json, requestID: context.requestID)
        }
        _ = try await accept(mapped.inputs, context: context, asBatch: true, endpoint: "otlp")
        return Self.otlpResponse(
            rejected: mapped.rejected, message: mapped.firstError.map { "\($0.code): \($0.message)" }, json: json, requestID: context.requestID)
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

    /// `POST /loki/api/v1/push`: 204 once the broker confirmed every entry; 400 for a body that is not a push
    /// or holds a bad entry (nothing is published then); 429/503 with `Retry-After`, which Loki clients retry.
    func lokiPush(_ request: Request, context: APIRequestContext) async throws(IngestError) -> Response {
        let type = request.headers.value(.contentType)?.split(separator: ";").first?.trimmingCharacters(in: .whitespaces).lowercased()
        guard type == "application/x-protobuf" || type == "application/json" else {
            throw IngestError(.unsupportedMediaType, "the Loki push API takes Content-Type application/x-protobuf (snappy) or application/json")
        }
        let body = try await bodies.read(request, context: context)
        let streams = try await lokiStreams(body, json: type == "application/json", context: context)
        let inputs = try LokiPush.inputs(
            streams, orgID: request.headers.nonEmpty(ReadAccess.orgHeader), headerTenant: request.tenantHeader,
            defaultTenant: context.grant?.onlyTenant, parser: parser, limits: shipperLimits,
            shouldStop: { context.clientGone || Task.isCancelled })
        if !inputs.isEmpty { _ = try await accept(inputs, context: context, asBatch: true, endpoint: "loki") }
        return Response(status: .noContent, headers: [APIResponses.requestIDHeader: context.requestID])
    }

    /// A push body's streams, bounded while decoding (entries, streams, labels) and charged to the body budget: a
    /// JSON body once decoded; a snappy protobuf body by what its block expands to and what its protobuf decodes
    /// to, each before it is made (like an inflated gzip body).
    private func lokiStreams(_ body: Data, json: Bool, context: APIRequestContext) async throws(IngestError) -> [LokiPush.Stream] {
        if json {
            let streams = try LokiPush.decode(json: body, limits: shipperLimits)
            try await bodies.takeDecoded(LokiPush.decodedSize(streams), context: context)
            return streams
        }
        if let length = LokiPush.decompressedLength(body), length <= bodies.maxRequestBytes {
            try await bodies.takeDecoded(length, context: context)
        }
        let raw = try LokiPush.decompress(snappy: body, limit: bodies.maxRequestBytes)
        try await bodies.takeDecoded(try LokiPush.inspect(protobuf: raw, limits: shipperLimits), context: context)
        return try LokiPush.decode(protobuf: raw)
    }
}
