/// A token of LogQL.
enum LogQLToken: Sendable, Equatable {
    case open(Character)  // { ( [
    case close(Character)  // } ) ]
    case comma
    /// `=`, `!=`, `=~`, `!~`, `|=`, `|~`, `|`, and the operators logpipe refuses (`+`, `>`, `==`, …).
    case op(String)
    case identifier(String)
    case string(String)
    /// A number or a duration as written (`1`, `0.5`, `5m`, `1h30m`, `250ms`).
    case number(String)
    case end

    var shown: String {
        switch self {
        case .open(let c), .close(let c): "'\(c)'"
        case .comma: "','"
        case .op(let text): "'\(text)'"
        case .identifier(let name): "'\(name)'"
        case .string: "a string"
        case .number(let text): "'\(text)'"
        case .end: "the end of the query"
        }
    }
}

/// Splits a query into tokens; strings are `"…"` with Go's escapes or `` `…` `` raw.
struct LogQLLexer {
    static let maxQueryLength = 16 * 1024

    static func tokens(_ text: String) throws(LogQLError) -> [LogQLToken] {
        guard text.utf8.count <= maxQueryLength else { throw LogQLError(.unsupported, "the query is longer than \(maxQueryLength) bytes") }
        let scalars = Array(text.unicodeScalars)
        var tokens: [LogQLToken] = []
        var index = 0
        func at(_ offset: Int) -> Unicode.Scalar? { index + offset < scalars.count ? scalars[index + offset] : nil }
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar.properties.isWhitespace {
                index += 1
                continue
            }
            switch scalar {
            case "{", "(", "[": tokens.append(.open(Character(scalar))); index += 1
            case "}", ")", "]": tokens.append(.close(Character(scalar))); index += 1
            case ",": tokens.append(.comma); index += 1
            case "#":
                while index < scalars.count, scalars[index] != "\n" { index += 1 }
            case "\"": tokens.append(.string(try quoted(scalars, &index)))
            case "`":
                index += 1
                var value = String.UnicodeScalarView()
                while index < scalars.count, scalars[index] != "`" {
                    value.append(scalars[index])
                    index += 1
                }
                guard index < scalars.count else { throw LogQLError(.invalid, "a `raw string` is never closed") }
                index += 1
                tokens.append(.string(String(value)))
            case "=", "!", "|", "<", ">":
                let pair = at(1).map { String(scalar) + String($0) }
                if let pair, ["!=", "=~", "!~", "|=", "|~", "==", "<=", ">=", "|>"].contains(pair) {
                    tokens.append(.op(pair))
                    index += 2
                } else {
                    tokens.append(.op(String(scalar)))
                    index += 1
                }
            case "+", "-", "*", "/", "%", "^": tokens.append(.op(String(scalar))); index += 1
            default:
                if scalar.isASCII, scalar.properties.isAlphabetic || scalar == "_" {
                    var name = String.UnicodeScalarView()
                    while let next = at(0), next.isASCII, next.properties.isAlphabetic || ("0"..."9").contains(next) || next == "_" || next == ":" {
                        name.append(next)
                        index += 1
                    }
                    tokens.append(.identifier(String(name)))
                } else if ("0"..."9").contains(scalar) || scalar == "." {
                    var number = String.UnicodeScalarView()
                    while let next = at(0), next.isASCII, next.properties.isAlphabetic || ("0"..."9").contains(next) || next == "." {
                        number.append(next)
                        index += 1
                    }
                    tokens.append(.number(String(number)))
                } else {
                    throw LogQLError(.invalid, "unexpected character '\(scalar.escaped(asASCII: true))' in the query")
                }
            }
        }
        tokens.append(.end)
        return tokens
    }

    /// A `"…"` string with Go's escapes, from its opening quote.
    private static func quoted(_ scalars: [Unicode.Scalar], _ index: inout Int) throws(LogQLError) -> String {
        index += 1
        var value = String.UnicodeScalarView()
        while index < scalars.count {
            let scalar = scalars[index]
            index += 1
            if scalar == "\"" { return String(value) }
            guard scalar == "\\" else {
                value.append(scalar)
                continue
            }
            guard index < scalars.count else { break }
            let escape = scalars[index]
            index += 1
            switch escape {
            case "n": value.append("\n")
            case "t": value.append("\t")
            case "r": value.append("\r")
            case "a": value.append("\u{07}")
            case "b": value.append("\u{08}")
            case "f": value.append("\u{0C}")
            case "v": value.append("\u{0B}")
            case "\\", "\"", "'": value.append(escape)
            case "x", "u", "U":
                let width = escape == "x" ? 2 : escape == "u" ? 4 : 8
                guard index + width <= scalars.count,
                    let code = UInt32(String(String.UnicodeScalarView(scalars[index..<index + width])), radix: 16),
                    let decoded = Unicode.Scalar(code)
                else { throw LogQLError(.invalid, "a \\\(escape) escape in a string is not valid") }
                value.append(decoded)
                index += width
            case "0"..."7":
                guard index + 2 <= scalars.count,
                    let code = UInt32(String(String.UnicodeScalarView(scalars[index - 1..<index + 2])), radix: 8),
                    let decoded = Unicode.Scalar(code)
                else { throw LogQLError(.invalid, "an octal escape in a string is not valid") }
                value.append(decoded)
                index += 2
            default:
                throw LogQLError(
                    .invalid, "the escape \\\(escape) in a string is not valid (to write a backslash for a regular expression, use \\\\ or a `raw string`)")
            }
        }
        throw LogQLError(.invalid, "a \"string\" is never closed")
    }

    /// A duration such as `5m`, `1h30m`, `250ms`, in milliseconds; nil when it is not one.
    static func milliseconds(_ text: String) -> Int64? {
        let units: [(String, Int64)] = [("ms", 1), ("s", 1_000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000), ("w", 604_800_000), ("y", 31_536_000_000)]
        var rest = Substring(text)
        var total: Int64 = 0
        guard !rest.isEmpty else { return nil }
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, let value = Int64(digits), value < 1_000_000_000 else { return nil }
            rest = rest.dropFirst(digits.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.0) && !(($0.0 == "m") && rest.hasPrefix("ms")) }) else { return nil }
            rest = rest.dropFirst(unit.0.count)
            let (part, overflow) = value.multipliedReportingOverflow(by: unit.1)
            guard !overflow, total <= Int64.max / 2 - part else { return nil }
            total += part
        }
        return total
    }
}
