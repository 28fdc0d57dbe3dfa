/// Log ids: client-supplied ones are 1–128 characters of `[A-Za-z0-9._:-]`; generated ones are UUIDv7.
public enum LogID {
    public static let maxLength = 128

    public static func isValid(_ value: String) -> Bool {
        // Over the contiguous UTF-8 (the worker checks two ids per log: a generic walk of the view cost ~40
        // instructions a byte, measured with callgrind).
        var value = value
        return value.withUTF8 { bytes in
            guard (1...maxLength).contains(bytes.count) else { return false }
            for byte in bytes where !isAllowed(byte) { return false }
            return true
        }
    }

    /// Whether `value` has a UUID's shape (`8-4-4-4-12` hex digits), as the ids the API generates do.
    public static func isUUID(_ value: String) -> Bool {
        var value = value
        return value.withUTF8 { bytes in
            guard bytes.count == 36 else { return false }
            for (index, byte) in bytes.enumerated() {
                switch index {
                case 8, 13, 18, 23: guard byte == UInt8(ascii: "-") else { return false }
                default:
                    guard byte &- UInt8(ascii: "0") < 10 || (byte | 0x20) &- UInt8(ascii: "a") < 6 else { return false }
                }
            }
            return true
        }
    }

    /// `[A-Za-z0-9._:-]`, as two 64-bit masks over the ASCII range.
    @inline(__always)
    static func isAllowed(_ byte: UInt8) -> Bool {
        let low: UInt64 = (1 << 45) | (1 << 46) | (0x7FF << 48)  // - . 0-9 :
        let high: UInt64 = (0x3FF_FFFF << 1) | (1 << 31) | (0x3FF_FFFF << 33)  // A-Z _ a-z
        return byte < 64 ? (low >> UInt64(byte)) & 1 == 1 : byte < 128 && (high >> UInt64(byte - 64)) & 1 == 1
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
