import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore

/// JSON responses of the API, each with `request_id` in the body and the `X-Request-ID` header.
enum APIResponses {
    static let requestIDHeader = HTTPField.Name("X-Request-ID")!
    static let tenantHeader = HTTPField.Name("X-Tenant-ID")!
    static let logIDHeader = HTTPField.Name("X-Log-ID")!

    /// A JSON body from a `Codable` value, keys sorted (the bodies of health, readiness and errors).
    static func json(_ status: HTTPResponse.Status, _ body: some Encodable, requestID: String,
                     extraHeaders: HTTPFields = [:]) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", requestIDHeader: requestID]
        headers.append(contentsOf: extraHeaders)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// `{"status": "ok", "request_id": …}` of `GET /health`.
    static func health(requestID: String) -> Response {
        json(.ok, StatusBody(status: "ok", requestID: requestID), requestID: requestID)
    }

    struct StatusBody: Encodable {
        var status: String
        var requestID: String
        enum CodingKeys: String, CodingKey {
            case status
            case requestID = "request_id"
        }
    }

    struct ErrorBody: Encodable {
        struct Detail: Encodable {
            var code: String
            var message: String
            var lines: [Line]?
        }
        struct Line: Encodable {
            var line: Int
            var code: String
            var message: String
        }
        var error: Detail
        var requestID: String
        enum CodingKeys: String, CodingKey {
            case error
            case requestID = "request_id"
        }
    }

    // The 202 bodies are the hot path, so they are written directly: every value in them (log ids, request
    // ids, tenant ids) is validated to characters that need no JSON escaping.

    static func accepted(_ record: LogRecord) -> Response {
        let body = #"{"log_id":"\#(record.logID)","message":"Log queued for processing","request_id":"\#(record.requestID)","status":"accepted","tenant_id":"\#(record.tenantID.rawValue)"}"#
        return raw(.accepted, body, requestID: record.requestID)
    }

    static func accepted(batch records: [LogRecord], requestID: String) -> Response {
        var seen = Set<TenantID>()
        let tenants = records.map(\.tenantID).filter { seen.insert($0).inserted }
        var body = #"{"accepted":\#(records.count),"log_ids":["#
        body.reserveCapacity(64 + records.count * 40 + tenants.count * 20)
        for (index, record) in records.enumerated() {
            if index > 0 { body += "," }
            body += "\"" + record.logID + "\""
        }
        body += #"],"request_id":"\#(requestID)","status":"accepted","tenant_ids":["#
        body += tenants.map { "\"" + $0.rawValue + "\"" }.joined(separator: ",")
        body += "]}"
        return raw(.accepted, body, requestID: requestID)
    }

    private static func raw(_ status: HTTPResponse.Status, _ body: String, requestID: String) -> Response {
        Response(status: status, headers: [.contentType: "application/json", requestIDHeader: requestID],
                 body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ error: IngestError, requestID: String) -> Response {
        var extra: HTTPFields = [:]
        if let seconds = error.retryAfterSeconds { extra[.retryAfter] = String(seconds) }
        if error.status == 401 { extra[.wwwAuthenticate] = #"Bearer realm="logpipe""# }
        let lines = error.lineErrors.map { ErrorBody.Line(line: $0.line, code: $0.code.rawValue, message: $0.message) }
        let body = ErrorBody(error: .init(code: error.code.rawValue, message: error.message, lines: lines.isEmpty ? nil : lines),
                             requestID: requestID)
        return json(HTTPResponse.Status(code: error.status), body, requestID: requestID, extraHeaders: extra)
    }
}

extension Request {
    /// The client's `X-Request-ID` when it is a sane id, else a new UUIDv7.
    var requestID: String {
        if let given = headers[APIResponses.requestIDHeader], LogID.isValid(given) { return given }
        return LogID.generate()
    }
}
