import Foundation
import LogPipeCore

/// The API's request-body parsers (one JSON object, NDJSON batches, plain text with header values) answer
/// every input with a value or an `IngestError`: no trap, no hang, no leak.
/// (A static: libFuzzer's `main` runs instead of this file's top-level code, so globals here are never set.)
enum Fixture { static let parser = IngestParser(maxLogBytes: 4096, maxBatchLogs: 200) }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    let data = Data(bytes)
    let parser = Fixture.parser
    _ = try? parser.parseJSON(data, headerTenant: nil)
    _ = try? parser.parseJSON(data, headerTenant: "acme", defaultTenant: TenantID("acme"))
    _ = try? parser.parseNDJSON(data, headerTenant: nil)
    // The first line as header values, the rest as the text body.
    let split = data.firstIndex(of: 0x0A) ?? data.endIndex
    let header = String(decoding: data[..<split], as: UTF8.self)
    _ = try? parser.parseText(data[split...], headerTenant: header, headerLogID: header)
    _ = try? parser.parseText(data, headerTenant: "acme", headerLogID: nil)
    return 0
}
