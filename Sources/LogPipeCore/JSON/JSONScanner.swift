/// A strict, allocation-light JSON reader over UTF-8 bytes for the hot paths (request bodies, work messages):
/// callers walk objects member by member and read each value as the type they expect, so no intermediate
/// dictionary or `Any` is built. RFC 8259 syntax; strings must be valid UTF-8; nesting is bounded.
public struct JSONScanner {
    public enum Failure: Error, Equatable {
        /// Not JSON (syntax, bad escape, invalid UTF-8, trailing bytes).
        case syntax
        /// JSON, but a value of another type than the one asked for.
        case type
    }

    /// A number as written: an integer when it has no fraction or exponent and fits, else a double.
    public enum Number: Equatable {
        case int(Int64)
        case double(Double)
    }

    let bytes: UnsafeRawBufferPointer
    var index = 0
    var depth = 0
    static let maxDepth = 64

    public init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
    }

    // MARK: - Structure

    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    /// Where the scanner is, in bytes from the start (after ``peek()``: where the next value starts).
    public var offset: Int { index }

    /// The next non-whitespace byte, not consumed; nil at the end.
    public mutating func peek() -> UInt8? {
        skipWhitespace()
        return index < bytes.count ? bytes[index] : nil
    }

    public mutating func isNull() throws(Failure) -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    /// Fails unless only whitespace is left.
    public mutating func expectEnd() throws(Failure) {
        skipWhitespace()
        guard index == bytes.count else { throw .syntax }
    }

    /// Calls `member` for each key of the object that starts here; `member` must consume the value.
    public mutating func object(_ member: (String, inout JSONScanner) throws(Failure) -> Void) throws(Failure) {
        guard let first = peek() else { throw .syntax }
        guard first == UInt8(ascii: "{") else { throw isValueStart(first) ? .type : .syntax }
        index += 1
        depth += 1
        guard depth <= Self.maxDepth else { throw .syntax }
        if peek() == UInt8(ascii: "}") {
            index += 1
            depth -= 1
            return
        }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw .syntax }
            let key = try rawString()
            guard peek() == UInt8(ascii: ":") else { throw .syntax }
            index += 1
            try member(key, &self)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"):
                index += 1
                depth -= 1
                return
            default: throw .syntax
            }
        }
    }

    /// Calls `element` for each element of the array that starts here; `element` must consume it.
    public mutating func array(_ element: (inout JSONScanner) throws(Failure) -> Void) throws(Failure) {
        guard let first = peek() else { throw .syntax }
        guard first == UInt8(ascii: "[") else { throw isValueStart(first) ? .type : .syntax }
        index += 1
        depth += 1
        guard depth <= Self.maxDepth else { throw .syntax }
        if peek() == UInt8(ascii: "]") {
            index += 1
            depth -= 1
            return
        }
        while true {
            try element(&self)
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"):
                index += 1
                depth -= 1
                return
            default: throw .syntax
            }
        }
    }

    // MARK: - Values

    public mutating func string() throws(Failure) -> String {
        guard let first = peek() else { throw .syntax }
        guard first == UInt8(ascii: "\"") else { throw isValueStart(first) ? .type : .syntax }
        return try rawString()
    }

    public mutating func bool() throws(Failure) -> Bool {
        switch peek() {
        case UInt8(ascii: "t"):
            try literal("true")
            return true
        case UInt8(ascii: "f"):
            try literal("false")
            return false
        case let byte?:
            throw isValueStart(byte) ? .type : .syntax
        case nil:
            throw .syntax
        }
    }

    public mutating func number() throws(Failure) -> Number {
        guard let first = peek() else { throw .syntax }
        guard first == UInt8(ascii: "-") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else {
            throw isValueStart(first) ? .type : .syntax
        }
        let start = index
        var integral = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            integral = false
            index += 1
            guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            integral = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, isDigit(bytes[index]) else { throw .syntax }
            while index < bytes.count, isDigit(bytes[index]) { index += 1 }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        if integral, let value = Int64(text) { return .int(value) }
        guard let value = Double(text), value.isFinite else { throw .syntax }
        return .double(value)
    }

    /// Consumes any value (for members the caller does not need).
    public mutating func skipValue() throws(Failure) {
        switch peek() {
        case UInt8(ascii: "{"): try object { _, scanner throws(Failure) in try scanner.skipValue() }
        case UInt8(ascii: "["): try array { scanner throws(Failure) in try scanner.skipValue() }
        case UInt8(ascii: "\""): _ = try rawString()
        case UInt8(ascii: "t"), UInt8(ascii: "f"): _ = try bool()
        case UInt8(ascii: "n"): try literal("null")
        default: _ = try number()
        }
    }

    // MARK: - Pieces

    private func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    private func isValueStart(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "{"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: "t"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        default:
            false
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count else { throw .syntax }
        for offset in 0..<count where bytes[index + offset] != word.utf8Start[offset] { throw .syntax }
        index += count
    }

    /// A string starting at the opening quote; escapes decoded, UTF-8 validated.
    private mutating func rawString() throws(Failure) -> String {
        index += 1
        let start = index
        // Fast path, until the closing quote or the first escape: a local cursor over the bytes (the scanner's
        // own `index` is stored once at the end), eight bytes at a time while none of them can stop it.
        if let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self) {
            var position = index
            let end = bytes.count
            var highBits: UInt64 = 0
            while end - position >= 8 {
                let word = UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)
                if JSONWriting.needsEscape(word) { break }  // a quote, a backslash or a control byte
                highBits |= word
                position += 8
            }
            while position < end {
                let byte = base[position]
                if byte == UInt8(ascii: "\"") {
                    let slice = UnsafeBufferPointer(start: base + start, count: position - start)
                    index = position + 1
                    // ASCII is valid UTF-8 as it is; anything else is validated (and rejected when invalid).
                    if highBits & 0x8080_8080_8080_8080 == 0 { return String(decoding: slice, as: UTF8.self) }
                    guard let text = String(validating: slice, as: UTF8.self) else { throw .syntax }
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                guard byte >= 0x20 else { throw .syntax }
                highBits |= UInt64(byte)
                position += 1
            }
            index = position
        }
        var decoded = [UInt8](UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                guard let text = String(validating: decoded, as: UTF8.self) else { throw .syntax }
                return text
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { throw .syntax }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(escape)
                case UInt8(ascii: "b"): decoded.append(0x08)
                case UInt8(ascii: "f"): decoded.append(0x0C)
                case UInt8(ascii: "n"): decoded.append(0x0A)
                case UInt8(ascii: "r"): decoded.append(0x0D)
                case UInt8(ascii: "t"): decoded.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800...0xDBFF).contains(scalar) {
                        guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                            throw .syntax
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00...0xDFFF).contains(low) else { throw .syntax }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(scalar) {
                        throw .syntax
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw .syntax }
                    decoded.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw .syntax
                }
            default:
                guard byte >= 0x20 else { throw .syntax }
                decoded.append(byte)
            }
        }
        throw .syntax
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw .syntax }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            index += 1
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw .syntax
            }
            value = value << 4 | digit
        }
        return value
    }
}
