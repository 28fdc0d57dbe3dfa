import Foundation
import LogPipeCore
import ShipperProtocols

/// `POST /v1/logs` bodies, protobuf and the OTLP JSON mapping (the first byte picks which): the wire inspection
/// answers every input with a size or a refusal; an input it lets through decodes or is refused cleanly, and
/// its mapping keeps `/ingest`'s limits: at most 64 attributes a log, keys of 1–128 bytes without control
/// characters, texts and logs within the log size, the logs together within the request limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    guard let first = bytes.first else { return 0 }
    let json = first & 1 == 1
    let body = Data(bytes.dropFirst())
    let limits = ShipperLimits(records: 1000, decodedBytes: 4 << 20, expandedBytes: 1 << 20)
    let parser = IngestParser(maxLogBytes: 4096, maxBatchLogs: 1000)
    guard (try? OTLPLogs.inspect(body, json: json, limits: limits)) != nil else { return 0 }
    guard let request = json ? OTLPLogs.decode(json: body) : OTLPLogs.decode(protobuf: body) else { return 0 }
    guard OTLPLogs.recordCount(request) <= limits.records else { fatalError("the inspection let more records through than its limit") }
    guard
        let mapped = try? OTLPLogs.inputs(
            request, headerTenant: "fuzz", defaultTenant: nil, tenantAttribute: "tenant.id", parser: parser, fromJSON: json, limits: limits)
    else { return 0 }
    var total = 0
    for input in mapped.inputs {
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
