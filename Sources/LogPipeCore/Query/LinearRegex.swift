/// A regular expression that a tenant may send (LogQL `=~`, `!~`, `|~`, `!~`), matched in time linear in the
/// text: a Pike VM without captures over the text's Unicode scalars, so no pattern can make a match backtrack.
///
/// The syntax is the part of RE2 that people type: literals and escapes, `.`, classes `[…]` (ranges,
/// negation, `[:alpha:]`-style names), `\d \w \s \D \W \S`, `\b \B`, `^ $ \A \z`, `* + ?` and `{m}`, `{m,}`,
/// `{m,n}` (lazy forms too: without captures they match the same texts), `|`, groups `(…)`, `(?:…)`, named
/// groups, and the flags `i`, `s`, `m` and `U` as `(?flags)` or `(?flags:…)`. Anything else
/// (backreferences, look-around, `\p{…}`, …) is refused with a ``RegexError`` that names it. Cost is bounded:
/// at most ``maxPatternLength`` bytes of pattern, ``maxRepeat`` as a repetition count, and ``maxProgramSize``
/// instructions once repetitions are expanded; a match then costs at most (text scalars × program size) steps.
public struct LinearRegex: Sendable, Hashable {
    /// The longest pattern accepted, in UTF-8 bytes.
    public static let maxPatternLength = 1_000
    /// The largest `m` or `n` in `{m,n}`.
    public static let maxRepeat = 1_000
    /// The most instructions a pattern may compile to.
    public static let maxProgramSize = 5_000

    /// The pattern as given.
    public let pattern: String
    let program: [RegexInstruction]
    /// Matches must start at the beginning of the text (the label matchers' full-match semantics).
    let anchored: Bool
    /// The pattern is a plain literal (no metacharacters, no flags): matched with a substring search.
    let literal: [UInt8]?
    /// Texts every match of a search pattern contains (``RegexNode/requiredLiterals``): a line without the
    /// longest of them is refused before the matcher runs, and stores may skip lines without any of them.
    public let requiredLiterals: [String]
    private let prefilter: [UInt8]

    /// Compiles `pattern`. `fullMatch`: the whole text must match (LogQL label matchers), else a match
    /// anywhere counts (line filters).
    public init(_ pattern: String, fullMatch: Bool = false) throws(RegexError) {
        guard pattern.utf8.count <= Self.maxPatternLength else {
            throw RegexError("the pattern is longer than \(Self.maxPatternLength) bytes")
        }
        self.pattern = pattern
        var parser = RegexParser(pattern)
        var node = try parser.parse()
        if fullMatch { node = .concat([.textStart, node, .textEnd]) }
        anchored = fullMatch || node.startsAnchored
        literal = fullMatch ? nil : RegexParser.plainLiteral(pattern)
        requiredLiterals = fullMatch ? [] : node.requiredLiterals
        prefilter = Array((requiredLiterals.max { $0.utf8.count < $1.utf8.count } ?? "").utf8)
        var compiler = RegexCompiler()
        try compiler.emit(node)
        compiler.program.append(.match)
        program = compiler.program
    }

    /// Whether the text matches (anywhere, or as a whole for a full-match pattern).
    public func matches(_ text: String) -> Bool {
        if let literal { return ByteSearch.contains(text, literal) }
        if !prefilter.isEmpty, !ByteSearch.contains(text, prefilter) { return false }
        var machine = PikeVM(program: program)
        return machine.run(text, anchored: anchored)
    }

    public static func == (lhs: LinearRegex, rhs: LinearRegex) -> Bool {
        lhs.pattern == rhs.pattern && lhs.anchored == rhs.anchored
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(pattern)
        hasher.combine(anchored)
    }
}

/// A pattern that is refused: what is wrong with it, never the text it was to match.
public struct RegexError: Error, Sendable, Hashable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Substring search over UTF-8 bytes (`|=`, `!=` and literal patterns).
public enum ByteSearch {
    /// Whether `needle` occurs in `text`; an empty needle always does.
    public static func contains(_ text: String, _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty else { return true }
        var text = text
        return text.withUTF8 { haystack in
            needle.withUnsafeBufferPointer { pattern in
                find(haystack, pattern)
            }
        }
    }

    static func find(_ haystack: UnsafeBufferPointer<UInt8>, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = needle.count
        guard haystack.count >= count, let first = needle.first else { return false }
        var index = 0
        let last = haystack.count - count
        while index <= last {
            if haystack[index] == first {
                var offset = 1
                while offset < count && haystack[index + offset] == needle[offset] { offset += 1 }
                if offset == count { return true }
            }
            index += 1
        }
        return false
    }
}
