/// Log ids: client-supplied ones are 1–128 characters of `[A-Za-z0-9._:-]`; generated ones are UUIDv7.
public enum LogID {
    public static let maxLength = 128

    public static func isValid(_ value: String) -> Bool {
        let bytes = value.utf8
        guard (1...maxLength).contains(bytes.count) else { return false }
        return bytes.allSatisfy(isAllowed)
    }

    /// Whether `value` has a UUID's shape (`8-4-4-4-12` hex digits), as the ids the API generates do.
    public static func isUUID(_ value: String) -> Bool {
        var index = 0
        for byte in value.utf8 {
            switch index {
            case 8, 13, 18, 23: guard byte == UInt8(ascii: "-") else { return false }
            default:
                guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte | 0x20)
                else { return false }
            }
            index += 1
            guard index <= 36 else { return false }
        }
        return index == 36
    }

    static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"),
            UInt8(ascii: ":"), UInt8(ascii: "-"):
            true
        default:
            false
        }
    }

    /// A time-ordered UUID (RFC 9562 version 7): 48 bits of Unix milliseconds, version, 74 random bits.
    public static func generate(millisecondsSinceEpoch: UInt64, using generator: inout some RandomNumberGenerator) -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: millisecondsSinceEpoch >> (8 * (5 - index))) }
        let random = (generator.next() as UInt64, generator.next() as UInt64)
        for index in 6..<16 {
            let word = index < 14 ? random.0 : random.1
            bytes[index] = UInt8(truncatingIfNeeded: word >> (8 * (index % 8)))
        }
        bytes[6] = 0x70 | (bytes[6] & 0x0F)
        bytes[8] = 0x80 | (bytes[8] & 0x3F)
        return hyphenatedHex(bytes)
    }

    /// A UUIDv7 for now, from the system's random generator.
    public static func generate(now: UnixTime = .now) -> String {
        var generator = SystemRandomNumberGenerator()
        return generate(millisecondsSinceEpoch: now.milliseconds, using: &generator)
    }

    static func hyphenatedHex(_ bytes: [UInt8]) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: bytes.count * 2 + 4) { out in
            var written = 0
            for (index, byte) in bytes.enumerated() {
                if index == 4 || index == 6 || index == 8 || index == 10 {
                    out[written] = UInt8(ascii: "-")
                    written += 1
                }
                out[written] = digits.utf8Start[Int(byte >> 4)]
                out[written + 1] = digits.utf8Start[Int(byte & 0x0F)]
                written += 2
            }
            return written
        }
    }
}
