/// `SECRET` (docs/redaction.md): credentials inside text. Each form has a fixed shape, so ids, hashes, UUIDs and base64
/// payloads that are not credentials never match:
/// - JWTs: `eyJ…` header and `eyJ…` payload of base64url (10+ bytes each), dots, and a signature;
/// - `Bearer <token>` (8+ token bytes with a digit, or 24+) and `Basic <base64>` whose value decodes to
///   `user:password`: the scheme word is kept, the credential masked;
/// - passwords in URLs: `scheme://user:password@host` keeps the user and the host;
/// - private-key blocks, `-----BEGIN … PRIVATE KEY-----` to its `END` line, masked whole;
/// - fixed-prefix tokens: AWS access key ids (`AKIA`/`ASIA`/`ABIA`/`ACCA` + 16), GitHub (`ghp_`, `gho_`, `ghu_`,
///   `ghs_`, `ghr_` + 36+, `github_pat_` + 22+), Slack (`xoxb-`, `xoxp-`, … + 10+), Stripe secret and restricted
///   keys (`sk_live_`, `sk_test_`, `rk_live_`, `rk_test_` + 16+) and Google API keys (`AIza` + 35).
///
/// Every candidate reads one run of bytes and the scan resumes after it, so the scan stays linear.
extension PIIScanner {
    @inline(__always) func isASCIIAlnum(_ byte: UInt8) -> Bool {
        byte &- 0x30 < 10 || (byte | 0x20) &- 0x61 < 26
    }

    @inline(__always) func isBase64URL(_ byte: UInt8) -> Bool {
        isASCIIAlnum(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }

    /// Whether `literal` is at `index`; with `caseless`, ASCII letters compare in either case.
    func has(_ literal: StaticString, at index: Int, caseless: Bool = false) -> Bool {
        let count = literal.utf8CodeUnitCount
        guard index + count <= bytes.count else { return false }
        let pointer = literal.utf8Start
        for offset in 0..<count {
            let byte = bytes[index + offset]
            let want = pointer[offset]
            if byte == want { continue }
            guard caseless, (want | 0x20) &- 0x61 < 26, byte | 0x20 == want | 0x20 else { return false }
        }
        return true
    }

    /// The end of the run of bytes from `start` that satisfy `accept`, at most `limit` long.
    @inline(__always) func run(from start: Int, limit: Int = Int.max, _ accept: (UInt8) -> Bool) -> Int {
        var index = start
        while index < bytes.count, index - start < limit, accept(bytes[index]) { index += 1 }
        return index
    }

    /// A token ends at `index` when no word byte follows.
    @inline(__always) func endsToken(_ index: Int) -> Bool {
        index >= bytes.count || flags(bytes[index]) & ByteClass.word == 0
    }

    /// A secret that starts with the letter at `i` (a word start).
    func matchSecret(_ i: Int) -> PIIMatch? {
        let end: Int?
        switch bytes[i] {
        case UInt8(ascii: "e"): end = matchJWT(i)
        case UInt8(ascii: "B"), UInt8(ascii: "b"): return matchAuthorizationValue(i)
        case UInt8(ascii: "A"): end = matchAWSKeyID(i) ?? matchGoogleAPIKey(i)
        case UInt8(ascii: "g"): end = matchGitHubToken(i)
        case UInt8(ascii: "x"): end = matchSlackToken(i)
        case UInt8(ascii: "s"), UInt8(ascii: "r"): end = matchStripeKey(i)
        default: return nil
        }
        return end.map { PIIMatch(start: i, end: $0, type: .secret) }
    }

    func matchJWT(_ i: Int) -> Int? {
        guard has("eyJ", at: i) else { return nil }
        let headerEnd = run(from: i, isBase64URL)
        guard headerEnd - i >= 10, at(headerEnd) == UInt8(ascii: "."), has("eyJ", at: headerEnd + 1) else { return nil }
        let payloadEnd = run(from: headerEnd + 1, isBase64URL)
        guard payloadEnd - headerEnd - 1 >= 10, at(payloadEnd) == UInt8(ascii: ".") else { return nil }
        return run(from: payloadEnd + 1, isBase64URL)
    }

    /// `Bearer <token>` or `Basic <user:password in base64>`: the match is the credential only.
    func matchAuthorizationValue(_ i: Int) -> PIIMatch? {
        let isBearer = has("bearer", at: i, caseless: true)
        guard isBearer || has("basic", at: i, caseless: true) else { return nil }
        let wordEnd = i + (isBearer ? 6 : 5)
        let start = run(from: wordEnd, limit: 8) { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\t") }
        guard start > wordEnd else { return nil }
        if isBearer {
            // token68: letters, digits, - . _ ~ + /, then padding; a trailing dot is the sentence's.
            var end = run(from: start) { byte in
                isASCIIAlnum(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                    || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/")
            }
            while end > start, bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            end = run(from: end, limit: 2) { $0 == UInt8(ascii: "=") }
            let length = end - start
            guard length >= 8, endsToken(end) else { return nil }
            var hasDigit = false
            for index in start..<end where bytes[index] &- 0x30 < 10 { hasDigit = true; break }
            guard hasDigit || length >= 24 else { return nil }
            return PIIMatch(start: start, end: end, type: .secret)
        }
        let body = run(from: start) { isASCIIAlnum($0) || $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "/") }
        let end = run(from: body, limit: 2) { $0 == UInt8(ascii: "=") }
        guard end - start >= 8, (end - start) % 4 == 0, endsToken(end), base64HoldsColon(start, body) else { return nil }
        return PIIMatch(start: start, end: end, type: .secret)
    }

    /// Whether the base64 text `start..<end` decodes to bytes holding a `:` (as `user:password` does).
    func base64HoldsColon(_ start: Int, _ end: Int) -> Bool {
        var accumulator: UInt32 = 0
        var bits = 0
        for index in start..<end {
            let byte = bytes[index]
            let value: UInt32
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(byte - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(byte - UInt8(ascii: "a")) + 26
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(byte - UInt8(ascii: "0")) + 52
            case UInt8(ascii: "+"): value = 62
            default: value = 63
            }
            accumulator = (accumulator << 6 | value) & 0xFFFF
            bits += 6
            if bits >= 8 {
                bits -= 8
                if (accumulator >> UInt32(bits)) & 0xFF == UInt32(UInt8(ascii: ":")) { return true }
            }
        }
        return false
    }

    func matchAWSKeyID(_ i: Int) -> Int? {
        guard has("AKIA", at: i) || has("ASIA", at: i) || has("ABIA", at: i) || has("ACCA", at: i) else { return nil }
        let end = run(from: i + 4, limit: 17) { $0 &- 0x30 < 10 || $0 &- 0x41 < 26 }
        return end - i == 20 && endsToken(end) ? end : nil
    }

    func matchGoogleAPIKey(_ i: Int) -> Int? {
        guard has("AIza", at: i) else { return nil }
        let end = run(from: i + 4, limit: 36, isBase64URL)
        return end - i == 39 && endsToken(end) && at(end) != UInt8(ascii: "-") ? end : nil
    }

    func matchGitHubToken(_ i: Int) -> Int? {
        if has("github_pat_", at: i) {
            let end = run(from: i + 11) { isASCIIAlnum($0) || $0 == UInt8(ascii: "_") }
            return end - i - 11 >= 22 && endsToken(end) ? end : nil
        }
        guard has("gh", at: i), [UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "u"), UInt8(ascii: "s"), UInt8(ascii: "r")].contains(at(i + 2)),
            at(i + 3) == UInt8(ascii: "_")
        else { return nil }
        let end = run(from: i + 4) { isASCIIAlnum($0) }
        return end - i - 4 >= 36 && endsToken(end) ? end : nil
    }

    func matchSlackToken(_ i: Int) -> Int? {
        guard has("xox", at: i),
            [UInt8(ascii: "a"), UInt8(ascii: "b"), UInt8(ascii: "p"), UInt8(ascii: "o"), UInt8(ascii: "s"), UInt8(ascii: "r")].contains(at(i + 3)),
            at(i + 4) == UInt8(ascii: "-")
        else { return nil }
        let end = run(from: i + 5) { isASCIIAlnum($0) || $0 == UInt8(ascii: "-") }
        return end - i - 5 >= 10 && endsToken(end) ? end : nil
    }

    func matchStripeKey(_ i: Int) -> Int? {
        guard has("k_live_", at: i + 1) || has("k_test_", at: i + 1) else { return nil }
        let end = run(from: i + 8) { isASCIIAlnum($0) }
        return end - i - 8 >= 16 && endsToken(end) ? end : nil
    }

    /// `-----BEGIN [A-Z ]*PRIVATE KEY-----`, its body and, when there, its `-----END … PRIVATE KEY-----` line.
    func matchPrivateKey(_ i: Int) -> PIIMatch? {
        guard let headerEnd = privateKeyLine(i, "-----BEGIN ") else { return nil }
        // Base64 lines, the legacy `Proc-Type:`/`DEK-Info:` headers, and `\n` written out by a logger.
        var index = headerEnd
        while index < bytes.count {
            let byte = bytes[index]
            guard
                isASCIIAlnum(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "/") || byte == UInt8(ascii: "=")
                    || byte == UInt8(ascii: ":") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: " ")
                    || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") || byte == UInt8(ascii: "\n")
                    || byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "-")
            else { break }
            if byte == UInt8(ascii: "-"), has("-----", at: index) { break }
            index += 1
        }
        let end = privateKeyLine(index, "-----END ") ?? index
        return PIIMatch(start: i, end: end, type: .secret)
    }

    /// The end of `<opening>[A-Z ]{0,40}PRIVATE KEY-----` at `i`, else nil.
    private func privateKeyLine(_ i: Int, _ opening: StaticString) -> Int? {
        guard has(opening, at: i) else { return nil }
        let start = i + opening.utf8CodeUnitCount
        let wordsEnd = run(from: start, limit: 48) { $0 &- 0x41 < 26 || $0 == UInt8(ascii: " ") }
        // "PRIVATE KEY-----" ends the run of capitals and spaces (its dashes stop it).
        let tail: StaticString = "PRIVATE KEY"
        guard wordsEnd - start >= 11, has(tail, at: wordsEnd - 11), has("-----", at: wordsEnd) else { return nil }
        return wordsEnd + 5
    }

    /// `scheme://user:password@host` around the `@` at `at`: the password, or nil. Earlier matches inside the
    /// password give way to it (a password of digits may have read as a phone number).
    func matchURLPassword(at: Int, after matches: inout [PIIMatch]) -> PIIMatch? {
        // RFC 3986 userinfo: unreserved, percent-encoded, sub-delims and ":".
        func isUserinfo(_ byte: UInt8) -> Bool {
            isASCIIAlnum(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_")
                || byte == UInt8(ascii: "~") || byte == UInt8(ascii: "%") || byte == UInt8(ascii: "!") || byte == UInt8(ascii: "$")
                || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "'") || byte == UInt8(ascii: "(") || byte == UInt8(ascii: ")")
                || byte == UInt8(ascii: "*") || byte == UInt8(ascii: "+") || byte == UInt8(ascii: ",") || byte == UInt8(ascii: ";")
                || byte == UInt8(ascii: "=") || byte == UInt8(ascii: ":")
        }
        var start = at
        while start > 0, at - start < 256, isUserinfo(bytes[start - 1]) { start -= 1 }
        guard start >= 4, bytes[start - 1] == UInt8(ascii: "/"), bytes[start - 2] == UInt8(ascii: "/"),
            bytes[start - 3] == UInt8(ascii: ":")
        else { return nil }
        // RFC 3986 scheme: a letter, then letters, digits, + - . (`s3`, `mongodb+srv`); at most 32 looked at.
        var schemeStart = start - 3
        while schemeStart > 0, start - 3 - schemeStart < 32 {
            let byte = bytes[schemeStart - 1]
            guard isASCIIAlnum(byte) || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") else { break }
            schemeStart -= 1
        }
        while schemeStart < start - 3, (bytes[schemeStart] | 0x20) &- 0x61 >= 26 { schemeStart += 1 }
        guard schemeStart < start - 3 else { return nil }
        var colon = start
        while colon < at, bytes[colon] != UInt8(ascii: ":") { colon += 1 }
        var passwordStart = colon + 1
        guard passwordStart < at else { return nil }
        while let last = matches.last, last.start >= passwordStart { matches.removeLast() }
        if let last = matches.last, last.end > passwordStart { passwordStart = last.end }
        guard passwordStart < at else { return nil }
        return PIIMatch(start: passwordStart, end: at, type: .secret)
    }
}
