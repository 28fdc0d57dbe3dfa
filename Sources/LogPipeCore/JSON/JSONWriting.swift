/// Appending JSON to a byte buffer by hand, for the hot paths (work messages, stored documents).
public enum JSONWriting {
    /// Appends `text` as a JSON string: quotes, backslashes and control characters escaped, the rest as UTF-8.
    public static func appendString(_ text: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var text = text
        text.withUTF8 { bytes in
            var start = 0
            for (offset, byte) in bytes.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<offset]))
                switch byte {
                case UInt8(ascii: "\""): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
                case UInt8(ascii: "\\"): output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
                case 0x0A: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
                default:
                    let hex = Array("0123456789abcdef".utf8)
                    output.append(contentsOf: Array("\\u00".utf8))
                    output.append(hex[Int(byte >> 4)])
                    output.append(hex[Int(byte & 0x0F)])
                }
                start = offset + 1
            }
            output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
        }
        output.append(UInt8(ascii: "\""))
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
        field("timestamp", timestamp)
        field("level", level)
        field("source", source)
        if let attributes {
            output.append(UInt8(ascii: ","))
            JSONWriting.appendKey("attributes", to: &output)
            JSONWriting.appendAttributes(attributes, to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }

    public var jsonBytes: [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count + 200)
        appendJSON(to: &output)
        return output
    }
}
