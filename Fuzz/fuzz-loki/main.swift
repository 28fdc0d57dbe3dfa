import Foundation
import LogPipeCore
import ShipperProtocols
import SnappyBridge

/// `POST /loki/api/v1/push` bodies: JSON, or protobuf in a snappy block (the first byte picks which; protobuf
/// is tried raw and snappy-compressed). Every input is decoded into streams or refused cleanly, and the logs of
/// a push keep `/ingest`'s limits: at most 64 attributes a log, valid names, texts and logs within the log
/// size, the logs together within the request limit, no more entries than the record limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    guard let first = bytes.first else { return 0 }
    let body = Data(bytes.dropFirst())
    let limits = ShipperLimits(records: 1000, decodedBytes: 4 << 20, expandedBytes: 1 << 20)
    let parser = IngestParser(maxLogBytes: 4096, maxBatchLogs: 1000)
    let streams: [LokiPush.Stream]
    do throws(IngestError) {
        switch first % 3 {
        case 0: streams = try LokiPush.decode(json: body, limits: limits)
        case 1:
            let raw = Array(body)
            _ = try LokiPush.inspect(protobuf: raw, limits: limits)
            streams = try LokiPush.decode(protobuf: raw)
        default: streams = try LokiPush.decode(snappyProtobuf: body, limit: 1 << 20, limits: limits)
        }
    } catch {
        return 0
    }
    guard streams.reduce(0, { $0 + $1.entries.count }) <= limits.records || first % 3 != 0 else {
        fatalError("the JSON decoder let more entries through than its limit")
    }
    guard let inputs = try? LokiPush.inputs(streams, orgID: "fuzz", headerTenant: nil, defaultTenant: nil, parser: parser, limits: limits) else {
        return 0
    }
    var total = 0
    for input in inputs {
        let attributes = input.attributes ?? [:]
        guard attributes.count <= LogFields.maxAttributes else { fatalError("a log has more than 64 attributes") }
        guard attributes.keys.allSatisfy(LogFields.isValidAttributeKey) else { fatalError("a log has an invalid attribute name") }
        guard !input.text.isEmpty, input.text.utf8.count <= parser.maxLogBytes else { fatalError("a log's text is out of bounds") }
        let size = LogFields.storedSize(text: input.text, attributes: attributes)
        guard size <= parser.maxLogBytes else { fatalError("a log is over the log size") }
        total += size
    }
    guard total <= limits.expandedBytes else { fatalError("the logs are over the request limit") }
    return 0
}
