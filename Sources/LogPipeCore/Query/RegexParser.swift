/// The parsed form of a pattern.
indirect enum RegexNode: Sendable {
    case empty
    case set(ScalarSet)
    case concat([RegexNode])
    case alternate([RegexNode])
    case `repeat`(RegexNode, min: Int, max: Int?)
    case lineStart, lineEnd, textStart, textEnd
    case wordBoundary(Bool)

    /// Every match begins at the start of the text.
    var startsAnchored: Bool {
        switch self {
        case .textStart: true
        case .concat(let nodes): nodes.first?.startsAnchored ?? false
        default: false
        }
    }
}

/// Flags in force: `i` case-insensitive, `s` `.` matches `\n`, `m` `^`/`$` at line ends.
struct RegexFlags {
    var caseInsensitive = false
    var dotAll = false
    var multiLine = false
}

/// RE2's syntax, the subset ``LinearRegex`` documents; recursive descent over the pattern's scalars.
struct RegexParser {
    private let scalars: [Unicode.Scalar]
    private var index = 0
    private var depth = 0

    init(_ pattern: String) { scalars = Array(pattern.unicodeScalars) }

    mutating func parse() throws(RegexError) -> RegexNode {
        var flags = RegexFlags()
        let node = try alternation(&flags)
        if index < scalars.count { throw RegexError("unbalanced ')' in the pattern") }
        return node
    }

    /// The bytes of a pattern without metacharacters, for a plain substring search; nil otherwise.
    static func plainLiteral(_ pattern: String) -> [UInt8]? {
        let meta = Set("\\.+*?()|[]{}^$".unicodeScalars)
        return pattern.unicodeScalars.contains(where: meta.contains) ? nil : Array(pattern.utf8)
    }

    private var atEnd: Bool { index >= scalars.count }
    private var peek: Unicode.Scalar? { atEnd ? nil : scalars[index] }

    private mutating func alternation(_ flags: inout RegexFlags) throws(RegexError) -> RegexNode {
        depth += 1
        defer { depth -= 1 }
        guard depth < 100 else { throw RegexError("the pattern nests groups too deeply") }
        var branches = [try concatenation(&flags)]
        while peek == "|" {
            index += 1
            branches.append(try concatenation(&flags))
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    private mutating func concatenation(_ flags: inout RegexFlags) throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let next = peek, next != "|", next != ")" {
            var atom = try self.atom(&flags)
            atom = try quantified(atom)
            items.append(atom)
        }
        return items.isEmpty ? .empty : items.count == 1 ? items[0] : .concat(items)
    }

    private mutating func quantified(_ atom: RegexNode) throws(RegexError) -> RegexNode {
        var node = atom
        var repeated = false
        while let next = peek {
            var bounds: (Int, Int?)
            switch next {
            case "*": bounds = (0, nil); index += 1
            case "+": bounds = (1, nil); index += 1
            case "?": bounds = (0, 1); index += 1
            case "{":
                guard let counted = try counts() else { return node }
                bounds = counted
            default: return node
            }
            if peek == "?" { index += 1 }  // lazy: the same texts match
            if peek == "+" { throw RegexError("possessive quantifiers are not supported") }
            if repeated { throw RegexError("a quantifier cannot follow another quantifier; group the first") }
            repeated = true
            switch node {
            case .lineStart, .lineEnd, .textStart, .textEnd, .wordBoundary:
                throw RegexError("a quantifier cannot follow an assertion such as ^ or $")
            default: break
            }
            node = .repeat(node, min: bounds.0, max: bounds.1)
        }
        return node
    }

    /// `{m}`, `{m,}` or `{m,n}` at the current position; nil (and nothing consumed) when it is a literal `{`.
    private mutating func counts() throws(RegexError) -> (Int, Int?)? {
        var cursor = index + 1
        func number() -> Int? {
            var value = 0
            var digits = 0
            while cursor < scalars.count, ("0"..."9").contains(scalars[cursor]) {
                value = min(value * 10 + Int(scalars[cursor].value - 48), Int(Int32.max))
                digits += 1
                cursor += 1
            }
            return digits > 0 ? value : nil
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if cursor < scalars.count, scalars[cursor] == "," {
            cursor += 1
            high = number()
        }
        guard cursor < scalars.count, scalars[cursor] == "}" else { return nil }
        guard low <= LinearRegex.maxRepeat, (high ?? 0) <= LinearRegex.maxRepeat else {
            throw RegexError("a repetition count is larger than \(LinearRegex.maxRepeat)")
        }
        if let high, high < low { throw RegexError("a repetition {m,n} has n smaller than m") }
        index = cursor + 1
        return (low, high)
    }

    private mutating func atom(_ flags: inout RegexFlags) throws(RegexError) -> RegexNode {
        let scalar = scalars[index]
        index += 1
        switch scalar {
        case ".":
            var set = ScalarSet.any
            if !flags.dotAll { set = set.subtracting(ScalarSet(["\n"])) }
            return .set(set)
        case "^": return flags.multiLine ? .lineStart : .textStart
        case "$": return flags.multiLine ? .lineEnd : .textEnd
        case "[": return .set(try bracket(flags))
        case "(": return try group(&flags)
        case "\\": return try escape(flags, inClass: false).node
        case "*", "+", "?": throw RegexError("a quantifier '\(scalar)' has nothing to repeat")
        default: return .set(ScalarSet.literal(scalar, caseInsensitive: flags.caseInsensitive))
        }
    }

    private mutating func group(_ flags: inout RegexFlags) throws(RegexError) -> RegexNode {
        var inner = flags
        if peek == "?" {
            index += 1
            guard let kind = peek else { throw RegexError("an unfinished group '(?'") }
            switch kind {
            case "=", "!": throw RegexError("look-ahead assertions (?= and (?! are not supported")
            case ">": throw RegexError("atomic groups (?> are not supported")
            case "#": throw RegexError("comments (?# are not supported")
            case "P", "<":
                if kind == "P" { index += 1 }
                guard peek == "<" else { throw RegexError("an unknown group syntax after '(?'") }
                index += 1
                if peek == "=" || peek == "!" { throw RegexError("look-behind assertions (?<= and (?<! are not supported") }
                while let next = peek, next != ">" {
                    guard next.properties.isAlphabetic || next == "_" || ("0"..."9").contains(next) else {
                        throw RegexError("a group name may hold letters, digits and '_' only")
                    }
                    index += 1
                }
                guard peek == ">" else { throw RegexError("an unfinished group name") }
                index += 1
            default:
                var negate = false
                var updated = flags
                while let next = peek, next != ")", next != ":" {
                    index += 1
                    switch next {
                    case "i": updated.caseInsensitive = !negate
                    case "s": updated.dotAll = !negate
                    case "m": updated.multiLine = !negate
                    case "U": break  // ungreedy: the same texts match
                    case "-" where !negate: negate = true
                    default: throw RegexError("the flag '\(next)' is not supported (i, s, m and U are)")
                    }
                }
                guard let end = peek else { throw RegexError("an unfinished flag group") }
                index += 1
                if end == ")" {
                    flags = updated  // (?i) applies to the rest of the enclosing group
                    return .empty
                }
                inner = updated
            }
        }
        let node = try alternation(&inner)
        guard peek == ")" else { throw RegexError("a '(' is never closed") }
        index += 1
        return node
    }

    private mutating func escape(_ flags: RegexFlags, inClass: Bool) throws(RegexError) -> (node: RegexNode, set: ScalarSet?) {
        guard let scalar = peek else { throw RegexError("the pattern ends with a lone backslash") }
        index += 1
        func set(_ value: ScalarSet) -> (RegexNode, ScalarSet?) { (.set(value), value) }
        switch scalar {
        case "d": return set(.digits)
        case "D": return set(ScalarSet.digits.inverted)
        case "w": return set(.word)
        case "W": return set(ScalarSet.word.inverted)
        case "s": return set(.space)
        case "S": return set(ScalarSet.space.inverted)
        case "t": return set(ScalarSet(["\t"]))
        case "n": return set(ScalarSet(["\n"]))
        case "r": return set(ScalarSet(["\r"]))
        case "f": return set(ScalarSet(["\u{0C}"]))
        case "v": return set(ScalarSet(["\u{0B}"]))
        case "a": return set(ScalarSet(["\u{07}"]))
        case "x": return set(ScalarSet.literal(try hexEscape(), caseInsensitive: flags.caseInsensitive))
        case "b" where !inClass: return (.wordBoundary(true), nil)
        case "B" where !inClass: return (.wordBoundary(false), nil)
        case "A" where !inClass: return (.textStart, nil)
        case "z" where !inClass: return (.textEnd, nil)
        case "p", "P": throw RegexError("Unicode classes \\p{…} are not supported")
        case "Q", "E": throw RegexError("quoting with \\Q…\\E is not supported")
        case "C": throw RegexError("\\C is not supported")
        default:
            if ("0"..."9").contains(scalar) { throw RegexError("backreferences and octal escapes such as \\\(scalar) are not supported") }
            if scalar.isASCII, scalar.properties.isAlphabetic { throw RegexError("the escape \\\(scalar) is not supported") }
            return set(ScalarSet.literal(scalar, caseInsensitive: flags.caseInsensitive))
        }
    }

    /// `\xHH` or `\x{H…}`.
    private mutating func hexEscape() throws(RegexError) -> Unicode.Scalar {
        var digits = ""
        if peek == "{" {
            index += 1
            while let next = peek, next != "}" {
                digits.unicodeScalars.append(next)
                index += 1
            }
            guard peek == "}" else { throw RegexError("an unfinished \\x{…} escape") }
            index += 1
        } else {
            for _ in 0..<2 {
                guard let next = peek else { break }
                digits.unicodeScalars.append(next)
                index += 1
            }
        }
        guard !digits.isEmpty, digits.count <= 8, let value = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(value) else {
            throw RegexError("a \\x escape is not a valid hexadecimal code point")
        }
        return scalar
    }

    /// A bracket expression, from after `[` to its `]`.
    private mutating func bracket(_ flags: RegexFlags) throws(RegexError) -> ScalarSet {
        var negated = false
        if peek == "^" {
            negated = true
            index += 1
        }
        var set = ScalarSet()
        var first = true
        while true {
            guard let scalar = peek else { throw RegexError("a '[' is never closed") }
            if scalar == "]" && !first { index += 1; break }
            first = false
            if scalar == "[", index + 1 < scalars.count, scalars[index + 1] == ":" {
                set.formUnion(try namedClass())
                continue
            }
            index += 1
            var low: Unicode.Scalar
            if scalar == "\\" {
                let (_, escaped) = try escape(RegexFlags(), inClass: true)
                guard let escaped else { throw RegexError("an escape in a class must stand for characters") }
                if escaped.singleScalar == nil {
                    set.formUnion(escaped)
                    continue
                }
                low = escaped.singleScalar!
            } else {
                low = scalar
            }
            if peek == "-", index + 1 < scalars.count, scalars[index + 1] != "]" {
                index += 1
                var high = scalars[index]
                index += 1
                if high == "\\" {
                    guard let single = try escape(RegexFlags(), inClass: true).set?.singleScalar else {
                        throw RegexError("a class range must end in one character")
                    }
                    high = single
                }
                guard low <= high else { throw RegexError("a class range is out of order") }
                set.insert(low...high)
            } else {
                set.insert(low...low)
            }
        }
        if flags.caseInsensitive { set = set.caseFolded }
        return negated ? set.inverted : set
    }

    /// `[:name:]` inside a bracket expression.
    private mutating func namedClass() throws(RegexError) -> ScalarSet {
        index += 2
        var name = ""
        while let next = peek, next != ":" {
            name.unicodeScalars.append(next)
            index += 1
        }
        guard peek == ":", index + 1 < scalars.count, scalars[index + 1] == "]" else { throw RegexError("an unfinished [:class:]") }
        index += 2
        var negated = false
        if name.hasPrefix("^") {
            negated = true
            name.removeFirst()
        }
        guard let set = ScalarSet.named[name] else { throw RegexError("the class [:\(name):] is not supported") }
        return negated ? set.inverted : set
    }
}

extension RegexNode {
    /// Texts every match contains, case-sensitively: the runs of literal characters that a match cannot avoid
    /// (`time(d )?out` → `time`, `out`). A store can skip lines without them before the matcher runs.
    var requiredLiterals: [String] {
        var literals: [String] = []
        var run = String.UnicodeScalarView()
        func flush() {
            if !run.isEmpty { literals.append(String(run)) }
            run = String.UnicodeScalarView()
        }
        func walk(_ node: RegexNode) {
            switch node {
            case .empty: break
            case .set(let set):
                if let scalar = set.singleScalar { run.append(scalar) } else { flush() }
            case .concat(let nodes): for item in nodes { walk(item) }
            case .repeat(let inner, let low, _):
                flush()
                if low >= 1 { literals.append(contentsOf: inner.requiredLiterals) }
            case .alternate, .lineStart, .lineEnd, .textStart, .textEnd, .wordBoundary: flush()
            }
        }
        walk(self)
        flush()
        return literals
    }
}
