/// Attribute keys that name secrets (docs/redaction.md): their whole value is replaced by `[REDACTED:SECRET]`,
/// whatever it holds.
///
/// A key is split into words at every character that is not a letter or digit and at camel-case humps
/// (`X-Api-Key` → `x api key`, `userPassword` → `user password`, `HTTPAuthorization` → `http authorization`).
/// A pattern (normalised the same way, its words joined) matches when the key's letters contain it ending at
/// the end of a word: `token` matches `access_token`, `X-Auth-Token` and `accesstoken`, not `tokens_used`;
/// `api_key` matches `x-api-key` and `apikey`. Only ASCII letters and digits count.
public struct SecretKeys: Sendable, Hashable {
    /// The built-in patterns (`LOGPIPE_SECRET_KEYS` replaces them).
    public static let defaultPatterns = [
        "password", "passwd", "passphrase", "secret", "token", "api_key", "apikey", "access_key", "private_key",
        "authorization", "cookie", "session", "session_id", "credential", "credentials",
    ]

    public static let `default` = SecretKeys(patterns: defaultPatterns)

    /// Normalised patterns: lower-case letters and digits only.
    public let patterns: [String]

    public init(patterns: [String]) {
        var seen = Set<String>()
        self.patterns = patterns.map { Self.words(of: $0).joined() }.filter { !$0.isEmpty && seen.insert($0).inserted }
    }

    /// These patterns and `more`.
    public func adding(_ more: [String]) -> SecretKeys {
        SecretKeys(patterns: patterns + more)
    }

    public func matches(_ key: String) -> Bool {
        guard !patterns.isEmpty else { return false }
        let words = Self.words(of: key)
        // The key's letters run together, and where each word ends in it.
        var letters: [UInt8] = []
        var wordEnds = Set<Int>()
        for word in words {
            letters.append(contentsOf: word.utf8)
            wordEnds.insert(letters.count)
        }
        for pattern in patterns {
            let needle = Array(pattern.utf8)
            for end in wordEnds where end >= needle.count {
                if letters[(end - needle.count)..<end].elementsEqual(needle) { return true }
            }
        }
        return false
    }

    /// Lower-case words of ASCII letters and digits; other bytes separate words (non-ASCII letters too).
    static func words(of key: String) -> [String] {
        var words: [String] = []
        var current: [UInt8] = []
        let bytes = Array(key.utf8.prefix(256))
        func isUpper(_ b: UInt8) -> Bool { b >= 0x41 && b <= 0x5A }
        func isLower(_ b: UInt8) -> Bool { b >= 0x61 && b <= 0x7A }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        func flush() {
            if !current.isEmpty { words.append(String(decoding: current, as: UTF8.self)) }
            current = []
        }
        for (index, byte) in bytes.enumerated() {
            guard isUpper(byte) || isLower(byte) || isDigit(byte) else {
                flush()
                continue
            }
            if index > 0 {
                let previous = bytes[index - 1]
                let next = index + 1 < bytes.count ? bytes[index + 1] : 0
                // `userPassword` (lower → upper), `HTTPAuth` (the last capital of a run starts a word), and
                // `password2` / `oauth2token` (letters and digits are words of their own).
                if isUpper(byte), isLower(previous) || isDigit(previous) || (isUpper(previous) && isLower(next)) { flush() }
                if isDigit(byte) != isDigit(previous), isUpper(previous) || isLower(previous) || isDigit(previous) { flush() }
            }
            current.append(isUpper(byte) ? byte | 0x20 : byte)
        }
        flush()
        return words
    }
}
