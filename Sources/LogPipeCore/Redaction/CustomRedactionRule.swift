import Foundation

/// A tenant's own rule: a name (`EMPLOYEE_ID`) and a regular expression; matches become `[REDACTED:<NAME>]`.
///
/// Custom rules run after the built-in pass, on the text between built-in masks. They use ICU regular
/// expressions (`NSRegularExpression`), so their cost is the pattern's: keep them simple.
public struct CustomRedactionRule: Sendable, Hashable {
    public let name: String
    public let pattern: String
    private let regex: RegexBox

    /// Names are 1–32 characters of `A-Z 0-9 _`, starting with a letter; the pattern must compile and must
    /// not match the empty string.
    public init(name: String, pattern: String) throws(RedactionRuleError) {
        guard (1...32).contains(name.utf8.count), let first = name.utf8.first, (65...90).contains(first),
            name.utf8.allSatisfy({ (65...90).contains($0) || (48...57).contains($0) || $0 == 95 })
        else {
            throw RedactionRuleError(rule: name, message: "a rule name must be 1–32 characters of A-Z 0-9 _ starting with a letter")
        }
        if PIIType(rawValue: name) != nil {
            throw RedactionRuleError(rule: name, message: "the name is a built-in type")
        }
        let regex: NSRegularExpression
        do {
            regex = try NSRegularExpression(pattern: pattern)
        } catch {
            throw RedactionRuleError(rule: name, message: "the pattern is not a valid regular expression")
        }
        if regex.firstMatch(in: "", range: NSRange(location: 0, length: 0)) != nil {
            throw RedactionRuleError(rule: name, message: "the pattern matches the empty string")
        }
        self.name = name
        self.pattern = pattern
        self.regex = RegexBox(regex: regex)
    }

    /// Unmatched text, or a match masked by the rule with this name.
    enum Piece {
        case text(String)
        case mask(String)
    }

    /// Splits the text around this rule's matches.
    func split(_ text: String) -> [Piece] {
        let matches = regex.regex.matches(in: text, range: NSRange(text.startIndex..., in: text))
        guard !matches.isEmpty else { return [.text(text)] }
        var pieces: [Piece] = []
        var position = text.startIndex
        for match in matches {
            guard let range = Range(match.range, in: text), !range.isEmpty else { continue }
            if position < range.lowerBound { pieces.append(.text(String(text[position..<range.lowerBound]))) }
            pieces.append(.mask(name))
            position = range.upperBound
        }
        if position < text.endIndex { pieces.append(.text(String(text[position...]))) }
        return pieces
    }

    public static func == (lhs: CustomRedactionRule, rhs: CustomRedactionRule) -> Bool {
        lhs.name == rhs.name && lhs.pattern == rhs.pattern
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(name)
        hasher.combine(pattern)
    }
}

/// `NSRegularExpression` is immutable and documented thread-safe once created.
private final class RegexBox: @unchecked Sendable {
    let regex: NSRegularExpression
    init(regex: NSRegularExpression) { self.regex = regex }
}

/// A custom rule that cannot be used; names the rule (and the tenant, when loaded from configuration).
public struct RedactionRuleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var rule: String
    public var message: String
    public var description: String { "redaction rule '\(rule)': \(message)" }
}
