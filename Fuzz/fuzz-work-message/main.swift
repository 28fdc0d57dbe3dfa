import LogPipeCore

/// The worker's decoder of `<ns>.work` message bodies (anything a broker user can publish) answers every input
/// with records or a `DecodeFailure`, and every decoded record has a valid tenant id.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    guard let records = try? WorkBody.parse(Array(bytes)) else { return 0 }
    for record in records where !TenantID.isValid(record.tenantID.rawValue) {
        fatalError("a decoded record has an invalid tenant id")
    }
    return 0
}
