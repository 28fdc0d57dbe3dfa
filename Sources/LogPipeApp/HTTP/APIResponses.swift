import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore

/// JSON responses of the API, each with `request_id` in the body and the `X-Request-ID` header.
enum APIResponses {
    static let requestIDHeader = HTTPField.Name("X-Request-ID")!
    static let tenantHeader = HTTPField.Name("X-Tenant-ID")!
    static let logIDHeader = HTTPField.Name("X-Log-ID")!

    static func json(_ status: HTTPResponse.Status, _ object: [String: Any], requestID: String,
                     extraHeaders: HTTPFields = [:]) -> Response {
        var object = object
        object["request_id"] = requestID
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        var headers: HTTPFields = [.contentType: "application/json", requestIDHeader: requestID]
        headers.append(contentsOf: extraHeaders)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
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
        var body: [String: Any] = ["code": error.code.rawValue, "message": error.message]
        if !error.lineErrors.isEmpty {
            body["lines"] = error.lineErrors.map { ["line": $0.line, "code": $0.code.rawValue, "message": $0.message] }
        }
        return json(HTTPResponse.Status(code: error.status), ["error": body], requestID: requestID, extraHeaders: extra)
    }
}

extension Request {
    /// The client's `X-Request-ID` when it is a sane id, else a new UUIDv7.
    var requestID: String {
        if let given = headers[APIResponses.requestIDHeader], LogID.isValid(given) { return given }
        return LogID.generate()
    }
}
