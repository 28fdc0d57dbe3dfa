import Foundation

/// The PII redaction engine (docs/redaction.md): built-in types in one linear pass, then optional custom rules.
///
/// Thread-safe and cheap to share: it holds only immutable rules.
public struct Redactor: Sendable {
    public let customRules: [CustomRedactionRule]
    /// Attribute keys whose whole value is a secret.
    public let secretKeys: SecretKeys

    public init(customRules: [CustomRedactionRule] = [], secretKeys: SecretKeys = .default) {
        self.customRules = customRules
        self.secretKeys = secretKeys
    }

    /// Every stored string of a log (docs/redaction.md): `text`, `source`, `level` and each string attribute value,
    /// and the whole value of an attribute whose key names a secret (counted as one `SECRET`). Numbers and
    /// booleans are kept as they are, unless their key names a secret.
    public func redact(fields record: LogRecord) -> RedactedFields {
        var counts: [String: Int] = [:]
        func clean(_ text: String) -> String {
            let redaction = redact(text)
            if !redaction.counts.isEmpty { counts.merge(redaction.counts, uniquingKeysWith: +) }
            return redaction.text
        }
        let text = clean(record.text)
        let source = record.source.map(clean)
        let level = record.level.map(clean)
        var attributes: [String: AttributeValue]?
        if let original = record.attributes {
            var cleaned = [String: AttributeValue](minimumCapacity: original.count)
            for (key, value) in original {
                if secretKeys.matches(key) {
                    cleaned[key] = .string(PIIType.secret.mask)
                    counts[PIIType.secret.rawValue, default: 0] += 1
                } else if case .string(let string) = value {
                    cleaned[key] = .string(clean(string))
                } else {
                    cleaned[key] = value
                }
            }
            attributes = cleaned
        }
        return RedactedFields(text: text, source: source, level: level, attributes: attributes, counts: counts)
    }

    /// Replaces every match with `[REDACTED:<TYPE>]` and counts matches per type.
    public func redact(_ text: String) -> Redaction {
        var text = text
        let matches = text.withUTF8 { Self.scan($0) }
        if matches.isEmpty, customRules.isEmpty { return Redaction(text: text, counts: [:]) }  // no copy
        return Self.settled(text.withUTF8 { build($0, matches) })
    }

    /// The same on UTF-8 bytes (which must be valid UTF-8: masks only replace ASCII-delimited spans).
    public func redact(utf8 input: UnsafeBufferPointer<UInt8>) -> Redaction {
        Self.settled(build(input, Self.scan(input)))
    }

    /// Every mask is final: a mask can turn what is left beside it into a match of its own (`fe80::` before an
    /// email that was masked reads as an address once a `[` follows it), so text that got masks is scanned
    /// again until nothing more is found (found by fuzz-redactor; a few passes at most, each masks more).
    static func settled(_ first: Redaction) -> Redaction {
        guard !first.counts.isEmpty else { return first }
        var result = first
        for _ in 0..<64 {  // two passes in practice; each pass masks more, and masks never match
            var text = result.text
            let more = text.withUTF8 { scan($0) }
            if more.isEmpty { break }
            let next = text.withUTF8 { Redactor().build($0, more) }
            result.text = next.text
            result.counts.merge(next.counts, uniquingKeysWith: +)
        }
        return result
    }

    static func scan(_ input: UnsafeBufferPointer<UInt8>) -> [PIIMatch] {
        ByteClass.table.withUnsafeBufferPointer { PIIScanner(bytes: input, classes: $0).scan() }
    }

    private func build(_ input: UnsafeBufferPointer<UInt8>, _ matches: [PIIMatch]) -> Redaction {
        var counts: [String: Int] = [:]
        for match in matches { counts[match.type.rawValue, default: 0] += 1 }
        guard customRules.isEmpty else { return buildWithRules(input, matches, counts) }
        // Straight into the new string's storage: the unmatched bytes and the masks.
        let capacity = input.count + matches.count * 24
        let text = String(unsafeUninitializedCapacity: capacity) { buffer in
            var written = 0
            var position = 0
            func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
                guard let base = bytes.baseAddress, bytes.count > 0 else { return }
                (buffer.baseAddress! + written).update(from: base, count: bytes.count)
                written += bytes.count
            }
            for match in matches {
                copy(UnsafeBufferPointer(rebasing: input[position..<match.start]))
                match.type.maskBytes.withUnsafeBufferPointer { copy($0) }
                position = match.end
            }
            copy(UnsafeBufferPointer(rebasing: input[position..<input.count]))
            return written
        }
        return Redaction(text: text, counts: counts)
    }

    private func buildWithRules(_ input: UnsafeBufferPointer<UInt8>, _ matches: [PIIMatch], _ counts: [String: Int]) -> Redaction {
        var counts = counts
        var output: [UInt8] = []
        output.reserveCapacity(input.count + matches.count * 24)
        var position = 0
        for match in matches {
            appendSegment(input, position..<match.start, to: &output, counts: &counts)
            output.append(contentsOf: match.type.maskBytes)
            position = match.end
        }
        appendSegment(input, position..<input.count, to: &output, counts: &counts)
        return Redaction(text: String(decoding: output, as: UTF8.self), counts: counts)
    }

    /// Copies unmatched text, applying the custom rules to it: each rule sees only text that no built-in
    /// type and no earlier rule has masked.
    private func appendSegment(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to output: inout [UInt8],
        counts: inout [String: Int]
    ) {
        guard !range.isEmpty else { return }
        let segment = UnsafeBufferPointer(rebasing: input[range])
        guard !customRules.isEmpty else {
            output.append(contentsOf: segment)
            return
        }
        var pieces: [CustomRedactionRule.Piece] = [.text(String(decoding: segment, as: UTF8.self))]
        for rule in customRules {
            pieces = pieces.flatMap { piece -> [CustomRedactionRule.Piece] in
                guard case .text(let text) = piece else { return [piece] }
                let split = rule.split(text)
                let found = split.count { if case .mask = $0 { true } else { false } }
                if found > 0 { counts[rule.name, default: 0] += found }
                return split
            }
        }
        for piece in pieces {
            switch piece {
            case .text(let text): output.append(contentsOf: text.utf8)
            case .mask(let name): output.append(contentsOf: "[REDACTED:\(name)]".utf8)
            }
        }
    }
}

/// A log's stored strings after redaction, and the matches of all of them by type.
public struct RedactedFields: Sendable, Hashable {
    public var text: String
    public var source: String?
    public var level: String?
    public var attributes: [String: AttributeValue]?
    public var counts: [String: Int]
}
