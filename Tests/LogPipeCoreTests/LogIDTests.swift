import LogPipeCore
import Testing

@Suite("Log ids")
struct LogIDTests {
    @Test(
        "client log ids",
        arguments: [
            ("a", true), ("A.b_c:d-9", true), (String(repeating: "x", count: 128), true),
            ("", false), (String(repeating: "x", count: 129), false), ("a b", false), ("a/b", false),
            ("é", false), ("a$", false), ("{}", false),
        ])
    func validity(_ value: String, _ valid: Bool) {
        #expect(LogID.isValid(value) == valid)
    }

    @Test("every byte value: exactly A-Z a-z 0-9 . _ : - are allowed, alone and inside an id, also in a non-native string")
    func everyByte() {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._:-".utf8)
        for byte in UInt8(0)...UInt8(127) {
            let text = String(decoding: [UInt8(ascii: "a"), byte, UInt8(ascii: "z")], as: UTF8.self)
            #expect(LogID.isValid(text) == allowed.contains(byte), "byte \(byte)")
        }
        for byte in UInt8(128)...UInt8(255) {
            #expect(!LogID.isValid(String(decoding: [UInt8(ascii: "a"), byte], as: UTF8.self)), "byte \(byte)")
        }
        // A bridged or shared string takes the same path (withUTF8 copies it first).
        let substring = "xx-id.1:ok_"[...]
        #expect(LogID.isValid(String(substring)))
    }

    @Test("generated ids are RFC 9562 version 7 UUIDs with the time in front")
    func uuidV7Layout() {
        var generator = SystemRandomNumberGenerator()
        let id = LogID.generate(millisecondsSinceEpoch: 0x0193_8A2B_C4D5, using: &generator)
        let hex = id.replacingOccurrences(of: "-", with: "")
        #expect(id.count == 36)
        #expect(id.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        #expect(hex.hasPrefix("01938a2bc4d5"))
        #expect(Array(id)[14] == "7")
        #expect("89ab".contains(Array(id)[19]))
        #expect(LogID.isValid(id))
    }

    @Test("generated ids sort by time and do not repeat")
    func ordering() {
        var generator = SystemRandomNumberGenerator()
        let earlier = LogID.generate(millisecondsSinceEpoch: 1_700_000_000_000, using: &generator)
        let later = LogID.generate(millisecondsSinceEpoch: 1_700_000_000_001, using: &generator)
        #expect(earlier < later)
        let many = Set((0..<10_000).map { _ in LogID.generate() })
        #expect(many.count == 10_000)
    }
}

extension String {
    func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
