import LogPipeCore
import Testing

/// The tenant-supplied regular expressions of LogQL: RE2's common syntax, matched without backtracking.
@Suite("Linear-time regular expressions")
struct LinearRegexTests {
    /// (pattern, text, matches anywhere in the text).
    static let searches: [(String, String, Bool)] = [
        ("error", "an error occurred", true),
        ("error", "an Error occurred", false),
        ("(?i)error", "an ERROR occurred", true),
        ("(?i)straße", "STRASSE straße", true),
        ("^GET /", "GET /index.html", true),
        ("^GET /", "POST /GET /", false),
        ("html$", "GET /index.html", true),
        ("html$", "GET /index.html?x", false),
        ("a.c", "abc", true),
        ("a.c", "a\nc", false),
        ("(?s)a.c", "a\nc", true),
        ("[0-9]{3}", "status 404 seen", true),
        ("[0-9]{3}", "status 40 seen", false),
        ("\\d{2,3}ms", "took 250ms", true),
        ("\\d{2,3}ms", "took 5ms", false),
        ("^\\w+@\\w+\\.com$", "bob@example.com", true),
        ("\\s", "no_space", false),
        ("\\bcat\\b", "the cat sat", true),
        ("\\bcat\\b", "concatenate", false),
        ("\\Bcat\\B", "concatenate", true),
        ("colou?r", "color", true),
        ("colou?r", "colour", true),
        ("(foo|bar)+baz", "xxfoobarfoobazyy", true),
        ("(foo|bar)+baz", "foobaz", true),
        ("timeout|refused", "connection refused", true),
        ("[^a-z]", "abc", false),
        ("[^a-z]", "abc1", true),
        ("[[:digit:]]+", "abc123", true),
        ("[[:upper:]]", "abc", false),
        ("[\\d.]+", "v1.2.3", true),
        ("\\.", "a.b", true),
        ("\\.", "ab", false),
        ("\\x41", "A", true),
        ("\\x{e9}", "café", true),
        ("日本", "こんにちは日本", true),
        ("caf.$", "café", true),
        ("(?m)^b", "a\nb", true),
        ("^b", "a\nb", false),
        ("a{0}b", "b", true),
        ("(?:ab){2}", "abab", true),
        ("(?:ab){2}", "ab", false),
        ("x*", "", true),
        ("", "anything", true),
        ("a|", "zzz", true),
        ("(?P<name>ab)c", "abc", true),
        ("a+?b", "aaab", true),
        ("[a-]", "-", true),
        ("[]a]", "]", true),
        ("a{,2}", "a{,2}", true),
        ("\\Aab", "ab", true),
        ("ab\\z", "ab", true),
    ]

    @Test("searches match where RE2 would", arguments: searches)
    func search(_ pattern: String, _ text: String, _ expected: Bool) throws {
        #expect(try LinearRegex(pattern).matches(text) == expected, "\(pattern) on \(text)")
    }

    @Test("full-match patterns (label matchers) must match the whole value")
    func fullMatch() throws {
        let regex = try LinearRegex("error|warn", fullMatch: true)
        #expect(regex.matches("error"))
        #expect(regex.matches("warn"))
        #expect(!regex.matches("errors"))
        #expect(!regex.matches("xwarn"))
        #expect(try LinearRegex(".*", fullMatch: true).matches(""))
        #expect(try LinearRegex("api-.+", fullMatch: true).matches("api-eu"))
        #expect(!(try LinearRegex("api-.+", fullMatch: true).matches("api-")))
    }

    /// (pattern, words the refusal names).
    static let refused: [(String, String)] = [
        ("(a)\\1", "backreference"),
        ("(?=a)", "look-ahead"),
        ("(?<=a)b", "look-behind"),
        ("(?!a)", "look-ahead"),
        ("\\p{L}", "Unicode classes"),
        ("a{1001}", "repetition count"),
        ("a++", "possessive"),
        ("(?x)a", "flag 'x'"),
        ("(a", "never closed"),
        ("a)", "unbalanced"),
        ("[a", "never closed"),
        ("*a", "nothing to repeat"),
        ("\\Qa\\E", "quoting"),
        ("[z-a]", "out of order"),
        ("((((a{1000}){1000}){1000}))", "too large"),
        (String(repeating: "a", count: 1_001), "longer than"),
    ]

    @Test("syntax outside the supported subset is refused, naming it", arguments: refused)
    func refusals(_ pattern: String, _ named: String) {
        #expect {
            _ = try LinearRegex(pattern)
        } throws: { error in
            (error as? RegexError)?.message.contains(named) == true
        }
    }

    @Test("a pattern that backtracking engines take exponential time on is matched in linear time", .timeLimit(.minutes(1)))
    func noCatastrophicBacktracking() throws {
        let text = String(repeating: "a", count: 5_000) + "!"
        let clock = ContinuousClock()
        for pattern in ["(a+)+$", "(a|aa)+b", "(a*)*b", "^(a|a?)+$", "(.*a){20}"] {
            let regex = try LinearRegex(pattern)
            let elapsed = clock.measure { _ = regex.matches(text) }
            #expect(elapsed < .seconds(2), "\(pattern) took \(elapsed)")
        }
        #expect(try !LinearRegex("(a+)+b").matches(text))
        #expect(try LinearRegex("(a+)+!").matches(text))
    }

    @Test("required literals: the texts every match contains, none under case-folding, alternation or optional parts")
    func requiredLiterals() throws {
        #expect(try LinearRegex("time(d )?out").requiredLiterals == ["time", "out"])
        #expect(try LinearRegex("GET /api/\\d+ 5\\d\\d").requiredLiterals == ["GET /api/", " 5"])
        #expect(try LinearRegex("(abc)+x").requiredLiterals == ["abc", "x"])
        #expect(try LinearRegex("(?i)error").requiredLiterals.isEmpty)
        #expect(try LinearRegex("error|warn").requiredLiterals.isEmpty)
        #expect(try LinearRegex("a?b*").requiredLiterals.isEmpty)
        #expect(try LinearRegex("x", fullMatch: true).requiredLiterals.isEmpty)
        #expect(try LinearRegex("time(d )?out").matches("it timed out") && !(try LinearRegex("time(d )?out").matches("timeless")))
    }

    @Test("substring search finds needles anywhere, including in text with NUL and non-ASCII")
    func byteSearch() {
        #expect(ByteSearch.contains("a\u{0}b timeout é", Array("timeout".utf8)))
        #expect(ByteSearch.contains("abc", []))
        #expect(!ByteSearch.contains("ab", Array("abc".utf8)))
        #expect(ByteSearch.contains("café", Array("é".utf8)))
    }
}
