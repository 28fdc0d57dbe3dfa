import ZlibBridge

/// The API's streaming gzip reader on any bytes, fed in pieces of varying sizes: it answers every input with
/// the inflated bytes or a `Failure`, and never holds more than its limit.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    guard let inflater = try? GzipInflater(limit: 64 * 1024) else { return 0 }
    var offset = 0
    var piece = 1
    do {
        while offset < input.count {
            let end = min(input.count, offset + piece)
            try inflater.feed(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
            offset = end
            piece = piece * 3 % 4093 + 1
        }
        _ = try inflater.finish()
    } catch {}
    if inflater.output.count > 64 * 1024 { fatalError("the inflater passed its limit") }
    return 0
}
