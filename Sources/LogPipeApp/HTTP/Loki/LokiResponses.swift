import Foundation
import HTTPTypes
import Hummingbird
import LogPipeCore
import NIOCore

/// The read API's bodies, in Loki's shapes (docs/sources/reference/loki-http-api.md): `{"status":"success",
/// "data":…}`; errors in logpipe's error shape plus Loki's top-level `status` and `message` (what Grafana shows).
/// Written with the fast JSON writer.
enum LokiResponses {
    /// `resultType: streams`: the logs grouped by label set, each stream's entries in the logs' order; an entry's
    /// time is its `received_at` in nanoseconds.
    static func streams(_ logs: [StoredLog], requestID: String) -> Response {
        var order: [LokiLabels] = []
        var entries: [LokiLabels: [StoredLog]] = [:]
        for log in logs {
            let labels = LokiLabels(log)
            if entries[labels] == nil { order.append(labels) }
            entries[labels, default: []].append(log)
        }
        var body = Self.start("streams")
        for (index, labels) in order.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: #"{"stream":"#.utf8)
            object(labels, to: &body)
            body.append(contentsOf: #","values":["#.utf8)
            for (position, log) in entries[labels, default: []].enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                body.append(UInt8(ascii: "["))
                JSONWriting.appendString(nanoseconds(log.receivedAt), to: &body)
                body.append(UInt8(ascii: ","))
                JSONWriting.appendString(log.text, to: &body)
                body.append(UInt8(ascii: "]"))
            }
            body.append(contentsOf: "]}".utf8)
        }
        return finish(body, entries: logs.count, requestID: requestID)
    }

    /// `resultType: matrix`: `[seconds, "value"]` points.
    static func matrix(_ series: [MetricSeries], requestID: String) -> Response {
        var body = Self.start("matrix")
        for (index, one) in series.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: #"{"metric":"#.utf8)
            object(one.labels, to: &body)
            body.append(contentsOf: #","values":["#.utf8)
            for (position, point) in one.points.enumerated() {
                if position > 0 { body.append(UInt8(ascii: ",")) }
                self.point(point.milliseconds, point.value, to: &body)
            }
            body.append(contentsOf: "]}".utf8)
        }
        return finish(body, entries: 0, requestID: requestID)
    }

    /// `resultType: vector`: one point per series at `milliseconds`.
    static func vector(_ series: [(labels: LokiLabels, value: Double)], at milliseconds: Int64, requestID: String) -> Response {
        var body = Self.start("vector")
        for (index, one) in series.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: #"{"metric":"#.utf8)
            object(one.labels, to: &body)
            body.append(contentsOf: #","value":"#.utf8)
            point(milliseconds, one.value, to: &body)
            body.append(UInt8(ascii: "}"))
        }
        return finish(body, entries: 0, requestID: requestID)
    }

    /// `{"status":"success","data":["a","b"]}` (labels, label values).
    static func names(_ names: [String], requestID: String) -> Response {
        var body = Array(#"{"status":"success","data":["#.utf8)
        for (index, name) in names.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            JSONWriting.appendString(name, to: &body)
        }
        body.append(contentsOf: "]}".utf8)
        return raw(body, requestID: requestID)
    }

    /// `{"status":"success","data":[{label: value, …}, …]}` (series).
    static func series(_ sets: [LokiLabels], requestID: String) -> Response {
        var body = Array(#"{"status":"success","data":["#.utf8)
        for (index, labels) in sets.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            object(labels, to: &body)
        }
        body.append(contentsOf: "]}".utf8)
        return raw(body, requestID: requestID)
    }

    /// An error: logpipe's `{"error": {"code", "message"}, "request_id"}` with Loki's `status` and `message`.
    static func error(_ error: IngestError, requestID: String) -> Response {
        var body = Array(#"{"error":{"code":"#.utf8)
        JSONWriting.appendString(error.code.rawValue, to: &body)
        body.append(contentsOf: #","message":"#.utf8)
        JSONWriting.appendString(error.message, to: &body)
        body.append(contentsOf: #"},"message":"#.utf8)
        JSONWriting.appendString(error.message, to: &body)
        body.append(contentsOf: #","request_id":"#.utf8)
        JSONWriting.appendString(requestID, to: &body)
        body.append(contentsOf: #","status":"error"}"#.utf8)
        var response = raw(body, status: error.httpStatus, requestID: requestID)
        if let seconds = error.retryAfterHeader { response.headers[.retryAfter] = String(seconds) }
        if error.httpStatus == .unauthorized { response.headers[.wwwAuthenticate] = #"Bearer realm="logpipe""# }
        return response
    }

    /// One tail message: `{"streams":[…],"dropped_entries":null}`.
    static func tailMessage(_ logs: [StoredLog]) -> String {
        var body = Array(#"{"streams":["#.utf8)
        for (index, log) in logs.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body.append(contentsOf: #"{"stream":"#.utf8)
            object(LokiLabels(log), to: &body)
            body.append(contentsOf: #","values":[["#.utf8)
            JSONWriting.appendString(nanoseconds(log.receivedAt), to: &body)
            body.append(UInt8(ascii: ","))
            JSONWriting.appendString(log.text, to: &body)
            body.append(contentsOf: "]]}".utf8)
        }
        body.append(contentsOf: #"],"dropped_entries":null}"#.utf8)
        return String(decoding: body, as: UTF8.self)
    }

    /// A stored `received_at` as Loki's entry time, nanoseconds since the epoch.
    static func nanoseconds(_ stamp: String) -> String {
        guard let time = UnixTime(stamp: stamp) ?? UnixTime(rfc3339: stamp) else { return "0" }
        return String(time.milliseconds) + "000000"
    }

    /// A sample value as Prometheus writes it: whole numbers without a fraction.
    static func value(_ number: Double) -> String {
        if number.rounded() == number, abs(number) < 1e15 { return String(Int64(number)) }
        return String(number)
    }

    // MARK: - Pieces

    private static func start(_ resultType: String) -> [UInt8] {
        var body = Array(#"{"status":"success","data":{"resultType":"#.utf8)
        JSONWriting.appendString(resultType, to: &body)
        body.append(contentsOf: #","result":["#.utf8)
        return body
    }

    private static func finish(_ body: [UInt8], entries: Int, requestID: String) -> Response {
        var body = body
        body.append(contentsOf: #"],"stats":{"summary":{"totalEntriesReturned":"#.utf8)
        body.append(contentsOf: String(entries).utf8)
        body.append(contentsOf: "}}}}".utf8)
        return raw(body, requestID: requestID)
    }

    private static func object(_ labels: LokiLabels, to body: inout [UInt8]) {
        body.append(UInt8(ascii: "{"))
        for (index, label) in labels.labels.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            JSONWriting.appendString(label.name, to: &body)
            body.append(UInt8(ascii: ":"))
            JSONWriting.appendString(label.value, to: &body)
        }
        body.append(UInt8(ascii: "}"))
    }

    /// `[seconds, "value"]`, seconds with milliseconds when they are not whole.
    private static func point(_ milliseconds: Int64, _ value: Double, to body: inout [UInt8]) {
        body.append(UInt8(ascii: "["))
        body.append(contentsOf: String(milliseconds / 1000).utf8)
        let fraction = milliseconds % 1000
        if fraction != 0 {
            let digits = String(fraction)
            body.append(contentsOf: ("." + String(repeating: "0", count: 3 - digits.count) + digits).utf8)
        }
        body.append(UInt8(ascii: ","))
        JSONWriting.appendString(Self.value(value), to: &body)
        body.append(UInt8(ascii: "]"))
    }

    static func raw(_ body: [UInt8], status: HTTPResponse.Status = .ok, requestID: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json", APIResponses.requestIDHeader: requestID],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }
}
