/// Appending JSON to a byte buffer by hand, for the hot paths (work messages, stored documents).
public enum JSONWriting {
    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    public static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            guard let base = bytes.baseAddress else { return }
            let count = bytes.count
            var start = 0  // the first byte not yet appended
            var position = 0
            while position < count {
                // Eight bytes at a time while none of them needs an escape.
                if count - position >= 8, !needsEscape(UnsafeRawPointer(base + position).loadUnaligned(as: UInt64.self)) {
                    position += 8
                    continue
                }
                let byte = base[position]
                position += 1
                guard byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") else { continue }
                output.append(contentsOf: UnsafeBufferPointer(start: base + start, count: position - 1 - start))
                appendEscape(byte, to: &output)
                start = position
            }
            output.append(contentsOf: UnsafeBufferPointer(start: base + start, count: count - start))
        }
        output.append(UInt8(ascii: "\""))
    }

    /// The escape of a quote, a backslash or a control byte.
    private static func appendEscape(_ byte: UInt8, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\\"))
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): output.append(byte)
        case 0x0A: output.append(UInt8(ascii: "n"))
        case 0x0D: output.append(UInt8(ascii: "r"))
        case 0x09: output.append(UInt8(ascii: "t"))
        default:
            let hex: StaticString = "0123456789abcdef"
            output.append(UInt8(ascii: "u"))
            output.append(UInt8(ascii: "0"))
            output.append(UInt8(ascii: "0"))
            output.append(hex.utf8Start[Int(byte >> 4)])
            output.append(hex.utf8Start[Int(byte & 0x0F)])
        }
    }

    /// Whether any of the eight bytes of `word` is one a JSON string cannot hold as it is: a quote, a backslash
    /// or a control byte (below 0x20). Exact, with the usual bit trick: `(x - 0x01…) & ~x & 0x80…` has a high bit
    /// set exactly when some byte of `x` is zero, and `(x - n·0x01…) & ~x & 0x80…` when some byte is below `n`
    /// (for `n` ≤ 0x80).
    @inline(__always) static func needsEscape(_ word: UInt64) -> Bool {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        let found = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
        return found & 0x8080_8080_8080_8080 != 0
    }

    static func appendKey(_ key: StaticString, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        output.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        output.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
    }

    /// `{"name":value,…}` of attributes, keys sorted (deterministic output).
    public static func appendAttributes(_ attributes: [String: AttributeValue], to output: inout [UInt8]) {
        appendObject(attributes, to: &output) { value, output in
            switch value {
            case .string(let text): appendString(text, to: &output)
            case .int(let number): output.append(contentsOf: Array(String(number).utf8))
            case .double(let number): output.append(contentsOf: Array(String(number).utf8))
            case .bool(let flag): output.append(contentsOf: Array((flag ? "true" : "false").utf8))
            }
        }
    }

    /// `{"A":1,"B":2}` with keys sorted.
    public static func appendCounts(_ counts: [String: Int], to output: inout [UInt8]) {
        appendObject(counts, to: &output) { count, output in appendInteger(count, to: &output) }
    }

    /// Decimal digits, without an intermediate `String`.
    static func appendInteger(_ value: Int, to output: inout [UInt8]) {
        if value < 0 { output.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8
            ) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            repeat {
                buffer[19 - count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            output.append(contentsOf: buffer[(20 - count)...])
        }
    }

    /// `{` key `:` value `,` … `}` with the keys sorted; `value` appends one value.
    private static func appendObject<Value>(
        _ members: [String: Value], to output: inout [UInt8],
        value: (Value, inout [UInt8]) -> Void
    ) {
        output.append(UInt8(ascii: "{"))
        // One member needs no sorting (and no sorted copy): the common case of redaction counts.
        if members.count == 1, let member = members.first {
            appendString(member.key, to: &output)
            output.append(UInt8(ascii: ":"))
            value(member.value, &output)
            return output.append(UInt8(ascii: "}"))
        }
        for (index, member) in members.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            appendString(member.key, to: &output)
            output.append(UInt8(ascii: ":"))
            value(member.value, &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}

extension LogRecord {
    /// The message body (docs/architecture.md), written directly (the same JSON `JSONEncoder` makes from the `Codable` conformance,
    /// in a fixed field order).
    public func appendJSON(to output: inout [UInt8]) {
        output.append(UInt8(ascii: "{"))
        JSONWriting.appendKey("v", to: &output)
        JSONWriting.appendInteger(v, to: &output)
        func field(_ key: StaticString, _ value: String?) {
            guard let value else { return }
            output.append(UInt8(ascii: ","))
            JSONWriting.appendKey(key, to: &output)
            JSONWriting.appendString(value, to: &output)
        }
        field("tenant_id", tenantID.rawValue)
        field("log_id", logID)
        field("text", text)
        field("received_at", receivedAt)
        field("request_id", requestID)
        fields.appendJSON(to: &output)
        output.append(UInt8(ascii: "}"))
    }

    public var jsonBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + 200)
        appendJSON(to: &output)
        return output
    }
}
