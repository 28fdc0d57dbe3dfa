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
        // One tally for every field: the counts dictionary is made once, at the end.
        var tally = RedactionTally()
        let text = redact(record.text, into: &tally)
        var fields = record.fields
        fields.source = fields.source.map { redact($0, into: &tally) }
        fields.level = fields.level.map { redact($0, into: &tally) }
        // An id the client chose (X-Request-ID) can hold what looks like a phone or card number; a UUID (what
        // the API generates) is hex digits in fixed groups, which no type matches, and is not scanned.
        let requestID = LogID.isUUID(record.requestID) ? record.requestID : redact(record.requestID, into: &tally)
        if let original = fields.attributes {
            var cleaned = [String: AttributeValue](minimumCapacity: original.count)
            for (name, value) in original {
                // Names are client text too; two names that redact alike keep one value.
                let key = redact(name, into: &tally)
                guard cleaned[key] == nil else { continue }
                if secretKeys.matches(name) {
                    cleaned[key] = .string(PIIType.secret.mask)
                    tally.add(.secret)
                } else if case .string(let string) = value {
                    cleaned[key] = .string(redact(string, into: &tally))
                } else {
                    cleaned[key] = value
                }
            }
            fields.attributes = cleaned
        }
        return RedactedFields(text: text, requestID: requestID, fields: fields, counts: tally.counts)
    }

    /// Replaces every match with `[REDACTED:<TYPE>]` and counts matches per type.
    public func redact(_ text: String) -> Redaction {
        var tally = RedactionTally()
        let redacted = redact(text, into: &tally)
        return Redaction(text: redacted, counts: tally.counts)
    }

    /// The same on UTF-8 bytes (which must be valid UTF-8: masks only replace ASCII-delimited spans).
    public func redact(utf8 input: UnsafeBufferPointer<UInt8>) -> Redaction {
        var tally = RedactionTally()
        let redacted = redact(utf8: input, into: &tally)
        return Redaction(text: redacted, counts: tally.counts)
    }

    /// The same, its matches added to `tally`: for many texts in a row (`logpipe redact`), one tally and no
    /// dictionary per text.
    public func redact(utf8 input: UnsafeBufferPointer<UInt8>, into tally: inout RedactionTally) -> String {
        let before = tally.total
        let first = build(input, Self.scan(input), into: &tally)
        return tally.total == before ? first : Self.settled(first, into: &tally)
    }

    /// The redacted text, its matches added to `tally`.
    func redact(_ text: String, into tally: inout RedactionTally) -> String {
        var text = text
        let matches = text.withUTF8 { Self.scan($0) }
        if matches.isEmpty, customRules.isEmpty { return text }  // no copy
        let before = tally.total
        let first = text.withUTF8 { build($0, matches, into: &tally) }
        return tally.total == before ? first : Self.settled(first, into: &tally)
    }

    /// Every mask is final: a mask can turn what is left beside it into a match of its own (`fe80::` before an
    /// email that was masked reads as an address once a `[` follows it), so text that got masks is scanned
    /// again until nothing more is found (a few passes at most, each masks more).
    static func settled(_ first: String, into tally: inout RedactionTally) -> String {
        var text = first
        for _ in 0..<64 {  // two passes in practice; each pass masks more, and masks never match
            let more = text.withUTF8 { scan($0) }
            if more.isEmpty { break }
            text = text.withUTF8 { Redactor().build($0, more, into: &tally) }
        }
        return text
    }

    static func scan(_ input: UnsafeBufferPointer<UInt8>) -> [PIIMatch] {
        ByteClass.table.withUnsafeBufferPointer { PIIScanner(bytes: input, classes: $0).scan() }
    }

    private func build(_ input: UnsafeBufferPointer<UInt8>, _ matches: [PIIMatch], into tally: inout RedactionTally) -> String {
        for match in matches { tally.add(match.type) }
        guard customRules.isEmpty else { return buildWithRules(input, matches, into: &tally) }
        // Straight into the new string's storage: the unmatched bytes and the masks.
        let capacity = input.count + matches.count * 24
        return String(unsafeUninitializedCapacity: capacity) { buffer in
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
    }

    private func buildWithRules(_ input: UnsafeBufferPointer<UInt8>, _ matches: [PIIMatch], into tally: inout RedactionTally) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(input.count + matches.count * 24)
        var position = 0
        for match in matches {
            appendSegment(input, position..<match.start, to: &output, tally: &tally)
            output.append(contentsOf: match.type.maskBytes)
            position = match.end
        }
        appendSegment(input, position..<input.count, to: &output, tally: &tally)
        return String(decoding: output, as: UTF8.self)
    }

    /// Copies unmatched text, applying the custom rules to it: each rule sees only text that no built-in
    /// type and no earlier rule has masked.
    private func appendSegment(
        _ input: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, to output: inout [UInt8],
        tally: inout RedactionTally
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
                if found > 0 { tally.add(rule: rule.name, found) }
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
    public var requestID: String
    /// The log's fields, each that can hold client text redacted (`timestamp` as it was).
    public var fields: LogFields
    public var counts: [String: Int]
}

/// Matches per type while a log's fields are redacted: the built-in types in a fixed array indexed by type (no
/// hashing, no allocation), custom rules by name; the dictionary of ``Redaction/counts`` is made once.
public struct RedactionTally: Sendable {
    private var builtIn = InlineArray<6, Int>(repeating: 0)
    private var custom: [String: Int] = [:]
    /// Every match counted so far.
    public private(set) var total = 0

    public init() {}

    mutating func add(_ type: PIIType) {
        builtIn[type.ordinal] += 1
        total += 1
    }

    /// Adds `counts` (a ``Redaction``'s, by type name) under their names.
    public mutating func add(_ counts: [String: Int]) {
        for (name, count) in counts {
            if let type = PIIType(rawValue: name) {
                builtIn[type.ordinal] += count
                total += count
            } else {
                add(rule: name, count)
            }
        }
    }

    mutating func add(rule name: String, _ count: Int) {
        custom[name, default: 0] += count
        total += count
    }

    /// Matches per type name; types with no match are absent.
    public var counts: [String: Int] {
        guard total > 0 else { return [:] }
        // A custom rule cannot be named like a built-in type (CustomRedactionRule refuses it): no key is shared.
        var counts = custom
        counts.reserveCapacity(custom.count + builtIn.count)
        for ordinal in builtIn.indices where builtIn[ordinal] > 0 { counts[PIIType.names[ordinal]] = builtIn[ordinal] }
        return counts
    }
}
