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

    static func accepted(_ record: LogRecord) -> Response {
        json(.accepted, ["status": "accepted", "message": "Log queued for processing", "log_id": record.logID,
                         "tenant_id": record.tenantID.rawValue], requestID: record.requestID)
    }

    static func accepted(batch records: [LogRecord], requestID: String) -> Response {
        var seen = Set<TenantID>()
        let tenants = records.map(\.tenantID).filter { seen.insert($0).inserted }.map(\.rawValue)
        return json(.accepted, ["status": "accepted", "accepted": records.count, "tenant_ids": tenants,
                                "log_ids": records.map(\.logID)], requestID: requestID)
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
