/// Reading `attributes` objects, shared by the API's body parser and the worker's message parser (both take
/// the same flat shape).
extension AttributeValue {
    /// A flat object of strings, numbers and booleans; anything else is a `.type` failure.
    static func readObject(_ scanner: inout JSONScanner) throws(JSONScanner.Failure) -> [String: AttributeValue] {
        var attributes: [String: AttributeValue] = [:]
        try scanner.object { key, scanner throws(JSONScanner.Failure) in
            guard let next = scanner.peek() else { throw .syntax }
            switch next {
            case UInt8(ascii: "\""): attributes[key] = .string(try scanner.string())
            case UInt8(ascii: "t"), UInt8(ascii: "f"): attributes[key] = .bool(try scanner.bool())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                switch try scanner.number() {
                case .int(let value): attributes[key] = .int(value)
                case .double(let value): attributes[key] = .double(value)
                }
            default:
                try scanner.skipValue()
                throw .type
            }
        }
        return attributes
    }
}
