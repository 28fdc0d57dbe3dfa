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
    static func json(
        _ status: HTTPResponse.Status, _ body: some Encodable, requestID: String,
        extraHeaders: HTTPFields = [:]
    ) -> Response {
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

    // The 202 bodies are the hot path: written with the fast JSON writer, keys in sorted order.

    static func accepted(_ record: LogRecord) -> Response {
        var body: [UInt8] = []
        body.reserveCapacity(160)
        member("log_id", record.logID, to: &body, first: true)
        member("message", "Log queued for processing", to: &body)
        member("request_id", record.requestID, to: &body)
        member("status", "accepted", to: &body)
        member("tenant_id", record.tenantID.rawValue, to: &body)
        body.append(UInt8(ascii: "}"))
        return raw(.accepted, body, requestID: record.requestID)
    }

    static func accepted(batch records: [LogRecord], requestID: String) -> Response {
        var seen = Set<TenantID>()
        let tenants = records.map(\.tenantID).filter { seen.insert($0).inserted }
        var body: [UInt8] = []
        body.reserveCapacity(64 + records.count * 40)
        body.append(contentsOf: #"{"accepted":"#.utf8)
        body.append(contentsOf: String(records.count).utf8)
        list("log_ids", records.map(\.logID), to: &body)
        member("request_id", requestID, to: &body)
        member("status", "accepted", to: &body)
        list("tenant_ids", tenants.map(\.rawValue), to: &body)
        body.append(UInt8(ascii: "}"))
        return raw(.accepted, body, requestID: requestID)
    }

    /// `,"key":"value"` (`{"key":"value"` for the first member).
    private static func member(_ key: String, _ value: String, to body: inout [UInt8], first: Bool = false) {
        body.append(UInt8(ascii: first ? "{" : ","))
        JSONWriting.appendString(key, to: &body)
        body.append(UInt8(ascii: ":"))
        JSONWriting.appendString(value, to: &body)
    }

    /// `,"key":["a","b",…]`.
    private static func list(_ key: String, _ values: [String], to body: inout [UInt8]) {
        body.append(UInt8(ascii: ","))
        JSONWriting.appendString(key, to: &body)
        body.append(contentsOf: #":["#.utf8)
        for (index, value) in values.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            JSONWriting.appendString(value, to: &body)
        }
        body.append(UInt8(ascii: "]"))
    }

    private static func raw(_ status: HTTPResponse.Status, _ body: [UInt8], requestID: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", requestIDHeader: requestID],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    static func error(_ error: IngestError, requestID: String) -> Response {
        var extra: HTTPFields = [:]
        if let seconds = error.retryAfterHeader { extra[.retryAfter] = String(seconds) }
        if error.httpStatus == .unauthorized { extra[.wwwAuthenticate] = #"Bearer realm="logpipe""# }
        let lines = error.lineErrors.map { ErrorBody.Line(line: $0.line, code: $0.code.rawValue, message: $0.message) }
        let body = ErrorBody(
            error: .init(code: error.code.rawValue, message: error.message, lines: lines.isEmpty ? nil : lines),
            requestID: requestID)
        return json(error.httpStatus, body, requestID: requestID, extraHeaders: extra)
    }
}

extension Request {
    /// The client's `X-Request-ID` when it is a sane id, else a new UUIDv7 (a new one each time: the API's routes
    /// read it once, from their context).
    var requestID: String {
        if let given = headers.value(APIResponses.requestIDHeader), LogID.isValid(given) { return given }
        return LogID.generate()
    }

    /// The tenant the write routes' `X-Tenant-ID` names (an empty header counts as absent, as empty environment
    /// variables do).
    var tenantHeader: String? { headers.nonEmpty(APIResponses.tenantHeader) }
}

extension HTTPFields {
    /// A header's value exactly as `self[name]` gives it (several fields of the name joined by ", "), without
    /// the subscript's lazy filter-and-join for the usual case of one field: ~4,000 instructions a lookup, a few
    /// lookups per request.
    func value(_ name: HTTPField.Name) -> String? {
        var found: String?
        for field in self where field.name == name {
            if found != nil { return self[name] }
            found = field.value
        }
        return found
    }

    /// A header's value, `nil` when it is absent or empty.
    func nonEmpty(_ name: HTTPField.Name) -> String? {
        value(name).flatMap { $0.isEmpty ? nil : $0 }
    }
}
