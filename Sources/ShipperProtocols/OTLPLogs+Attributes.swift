import Foundation
import LogPipeCore

/// One level's attributes (a resource's, a scope's or a record's) as flat pairs, already within `/ingest`'s
/// limits: at most ``LogFields/maxAttributes`` pairs with valid keys; what was left out is only counted.
struct FlatAttributes: Sendable {
    var pairs: [(key: String, value: AttributeValue)] = []
    /// Leaves left out: over the count limit, or under a key that is too long or holds control characters.
    var dropped = 0
    /// A value (an array or a map written as JSON) was over the size of one log: its records cannot be logs.
    var oversized = false

    /// The pairs a level keeps; the first of a key wins when it is given twice.
    static let limit = LogFields.maxAttributes

    mutating func append(_ key: String, _ value: AttributeValue) {
        if pairs.count < Self.limit { pairs.append((key, value)) } else { dropped += 1 }
    }

    func value(of key: String) -> AttributeValue? {
        pairs.first(where: { $0.key == key })?.value
    }

    /// A scope's records' shared attributes: the scope's, then the resource's (first wins), within the limit
    /// that leaves a record room for its own count of dropped attributes.
    static func merged(_ first: FlatAttributes, _ second: FlatAttributes) -> FlatAttributes {
        var result = FlatAttributes(dropped: first.dropped + second.dropped, oversized: first.oversized || second.oversized)
        var keys = Set<String>(minimumCapacity: first.pairs.count + second.pairs.count)
        for (key, value) in first.pairs + second.pairs where keys.insert(key).inserted {
            guard result.pairs.count < limit - 1 else {
                result.dropped += 1
                continue
            }
            result.pairs.append((key, value))
        }
        return result
    }

    /// A record's attributes: its own, then the shared ones (first wins), at most ``limit`` with
    /// `otel.dropped_attributes` counting what was left out.
    static func dictionary(_ own: FlatAttributes, _ shared: FlatAttributes) -> [String: AttributeValue] {
        var result = [String: AttributeValue](minimumCapacity: min(limit, own.pairs.count + shared.pairs.count))
        var dropped = own.dropped + shared.dropped
        for group in [own.pairs, shared.pairs] {
            for (key, value) in group where result[key] == nil {
                guard result.count < limit - 1 else {
                    dropped += 1
                    continue
                }
                result[key] = value
            }
        }
        if dropped > 0 { result["otel.dropped_attributes"] = .int(Int64(dropped)) }
        return result
    }
}

extension OTLPLogs {
    /// Maps nested this deep become dotted keys; deeper ones are written as JSON text.
    static let maxFlattenDepth = 8

    /// Key-value lists as flat attributes: maps become dotted keys, arrays and bytes become text. The limits
    /// hold while flattening: no key is built past ``LogFields/maxAttributeKeyBytes`` and no pair past the
    /// count limit, so a wide or deep map costs its size once, never its size times its keys' length.
    static func flatten(_ list: [Logpipe_Otlp_KeyValue], valueLimit: Int) -> FlatAttributes {
        var flat = FlatAttributes()
        flatten(list, prefix: "", depth: 0, valueLimit: valueLimit, into: &flat)
        return flat
    }

    private static func flatten(
        _ list: [Logpipe_Otlp_KeyValue], prefix: String, depth: Int, valueLimit: Int, into flat: inout FlatAttributes
    ) {
        for pair in list {
            guard let value = pair.value.value else { continue }
            let keyBytes = prefix.utf8.count + pair.key.utf8.count
            let keyValid =
                keyBytes > 0 && keyBytes <= LogFields.maxAttributeKeyBytes && pair.key.utf8.allSatisfy { $0 >= 0x20 && $0 != 0x7F }
            guard keyValid, flat.pairs.count < FlatAttributes.limit else {
                flat.dropped += leaves(pair.value, depth: depth)
                continue
            }
            let key = prefix + pair.key
            switch value {
            case .stringValue(let text): flat.pairs.append((key, .string(text)))
            case .boolValue(let flag): flat.pairs.append((key, .bool(flag)))
            case .intValue(let number): flat.pairs.append((key, .int(number)))
            case .doubleValue(let number): flat.pairs.append((key, number.isFinite ? .double(number) : .string(String(number))))
            case .bytesValue(let bytes): flat.pairs.append((key, .string(bytes.base64EncodedString())))
            case .kvlistValue(let map) where depth < maxFlattenDepth:
                flatten(map.values, prefix: key + ".", depth: depth + 1, valueLimit: valueLimit, into: &flat)
            case .kvlistValue, .arrayValue:
                var text: [UInt8] = []
                if appendJSON(pair.value, depth: depth, limit: valueLimit, to: &text) {
                    flat.pairs.append((key, .string(String(decoding: text, as: UTF8.self))))
                } else {
                    flat.oversized = true
                }
            }
        }
    }

    /// The attributes a value would have become (maps counted by their leaves), without building any.
    static func leaves(_ value: Logpipe_Otlp_AnyValue, depth: Int) -> Int {
        switch value.value {
        case nil: 0
        case .kvlistValue(let map)? where depth < maxFlattenDepth: map.values.reduce(0) { $0 + leaves($1.value, depth: depth + 1) }
        default: 1
        }
    }

    /// A body as the log's text: a string as it is, anything else as JSON. A structured body over `limit`
    /// bytes is cut off there (the caller refuses a text over the limit).
    static func bodyText(_ body: Logpipe_Otlp_AnyValue, limit: Int) -> String {
        if case .stringValue(let text)? = body.value { return text }
        if body.value == nil { return "" }
        var text: [UInt8] = []
        _ = appendJSON(body, depth: 0, limit: limit, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Writes an AnyValue as JSON (maps as objects, arrays as arrays, bytes as base64 strings) into `output`,
    /// and stops as soon as it is over `limit` bytes: false then. Nesting past 16 levels is written as null.
    static func appendJSON(_ value: Logpipe_Otlp_AnyValue, depth: Int, limit: Int, to output: inout [UInt8]) -> Bool {
        guard output.count <= limit else { return false }
        guard depth < 16 else {
            output.append(contentsOf: "null".utf8)
            return output.count <= limit
        }
        switch value.value {
        case .stringValue(let text)?: JSONWriting.appendString(text, to: &output)
        case .boolValue(let flag)?: output.append(contentsOf: (flag ? "true" : "false").utf8)
        case .intValue(let number)?: output.append(contentsOf: String(number).utf8)
        case .doubleValue(let number)?:
            if number.isFinite { output.append(contentsOf: "\(number)".utf8) } else { JSONWriting.appendString(String(number), to: &output) }
        case .bytesValue(let bytes)?: JSONWriting.appendString(bytes.base64EncodedString(), to: &output)
        case .arrayValue(let array)?:
            output.append(UInt8(ascii: "["))
            for (index, element) in array.values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                guard appendJSON(element, depth: depth + 1, limit: limit, to: &output) else { return false }
            }
            output.append(UInt8(ascii: "]"))
        case .kvlistValue(let map)?:
            output.append(UInt8(ascii: "{"))
            for (index, pair) in map.values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                JSONWriting.appendString(pair.key, to: &output)
                output.append(UInt8(ascii: ":"))
                guard appendJSON(pair.value, depth: depth + 1, limit: limit, to: &output) else { return false }
            }
            output.append(UInt8(ascii: "}"))
        case nil: output.append(contentsOf: "null".utf8)
        }
        return output.count <= limit
    }
}
