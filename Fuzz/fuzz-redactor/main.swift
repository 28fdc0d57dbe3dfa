import LogPipeCore

/// The PII redactor on any UTF-8 text: no trap, no hang, and redacting the result again changes nothing
/// (every mask is final).
/// (A static: libFuzzer's `main` runs instead of this file's top-level code, so globals here are never set.)
enum Fixture { static let redactor = Redactor() }

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : count)
    let redactor = Fixture.redactor
    let text = String(decoding: bytes, as: UTF8.self)
    let once = redactor.redact(text)
    if redactor.redact(once.text).text != once.text {
        fatalError("redacting twice changed the text: a mask was not final")
    }
    return 0
}
