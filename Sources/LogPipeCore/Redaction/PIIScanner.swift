/// One match of the built-in engine: bytes `start..<end` of the input are data of `type`.
struct PIIMatch: Equatable {
    var start: Int
    var end: Int
    var type: PIIType
}

/// The single-pass scanner behind ``Redactor``.
///
/// It walks the UTF-8 bytes once. Only a byte that can begin a match (after a boundary: a digit, a hex letter,
/// `+`, `(`, `:` or a token's first letter; anywhere: `@` and `-----`) starts a candidate, and every candidate
/// either looks at a bounded window (at most a few hundred bytes for an email, under 64 for numbers and
/// addresses) or reads one run of token bytes that the scan then resumes after, without backtracking, so the
/// time is linear in the input whatever it holds: a 1 MiB line of digits or of `@`s costs a constant per byte.
struct PIIScanner {
    let bytes: UnsafeBufferPointer<UInt8>
    let classes: UnsafeBufferPointer<UInt8>

    var count: Int { bytes.count }

    @inline(__always) func at(_ index: Int) -> UInt8 { index < bytes.count ? bytes[index] : 0 }
    @inline(__always) func flags(_ byte: UInt8) -> UInt8 { classes[Int(byte)] }
    @inline(__always) func isDigit(_ index: Int) -> Bool { index < bytes.count && bytes[index] &- 0x30 < 10 }
    @inline(__always) func digitValue(_ index: Int) -> Int { Int(bytes[index] &- 0x30) }

    /// A match may end at `index`: the end of input, or a byte that is not part of a word, where `.`, `-` and
    /// `,` count as part of a word when a digit follows (`1.2.3.4.5`, `555-1234-99`, `1,048,576`).
    func isEndBoundary(_ index: Int) -> Bool {
        guard index < bytes.count else { return true }
        let byte = bytes[index]
        if flags(byte) & ByteClass.word != 0 { return false }
        if byte == UInt8(ascii: ".") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ",") { return !isDigit(index + 1) }
        return byte != UInt8(ascii: "@")
    }

    /// A match may start at `index`: the start of input, or after a boundary byte.
    @inline(__always) func isStartBoundary(_ index: Int) -> Bool {
        index == 0 || flags(bytes[index - 1]) & ByteClass.startBoundary != 0
    }

    /// Every match, in order, non-overlapping.
    func scan() -> [PIIMatch] {
        var matches: [PIIMatch] = []
        let n = bytes.count
        var i = 0
        while i < n {
            let byte = bytes[i]
            let byteFlags = flags(byte)
            if byteFlags & ByteClass.special != 0 {
                if byte == UInt8(ascii: "@") {
                    if let match = matchURLPassword(at: i, after: &matches) {
                        matches.append(match)
                        i = match.end + 1  // the host is scanned on its own
                    } else if let match = matchEmail(at: i, after: &matches) {
                        matches.append(match)
                        i = match.end
                    } else {
                        i += 1
                    }
                } else if at(i + 1) == UInt8(ascii: "-"), let match = matchPrivateKey(i) {
                    matches.append(match)
                    i = match.end
                } else {
                    i += 1
                }
                continue
            }
            // Right after a match counts as a boundary: the output has the mask's `]` there, and a second pass
            // over it must find what this one would ("fe80::1%e0O80::1%eth" would leave
            // "::1%eth", an address of its own, for the second pass).
            guard byteFlags & ByteClass.trigger != 0, isStartBoundary(i) || matches.last?.end == i else {
                i += 1
                // No match starts at a word byte whose previous byte is a word byte (no boundary there, and no match
                // ends there: matches end at or before `i`), so the rest of the word is skipped in one tight loop.
                if byteFlags & ByteClass.word != 0 {
                    while i < n, flags(bytes[i]) & ByteClass.word != 0 { i += 1 }
                }
                continue
            }
            if let match = matchAt(i) {
                matches.append(match)
                i = match.end
            } else if hexGroupThenColon(i), let end = overlongHexChainEnd(i) {
                // More than eight colon-separated groups: not an address, and no tail of it is one either.
                i = end
            } else if byteFlags & ByteClass.word != 0 {
                // Skip the rest of this word: no match can start inside it.
                i += 1
                while i < n, flags(bytes[i]) & ByteClass.word != 0 { i += 1 }
            } else {
                i += 1
            }
        }
        return matches
    }

    /// The end of a run of more than eight `:`-separated hex groups starting at `i`, else `nil`.
    func overlongHexChainEnd(_ i: Int) -> Int? {
        var index = i
        var groups = 0
        while true {
            let groupStart = index
            while isHexDigit(index), index - groupStart <= 4 { index += 1 }
            guard index > groupStart, index - groupStart <= 4 else { break }
            groups += 1
            guard at(index) == UInt8(ascii: ":") else { break }
            index += 1
            if at(index) == UInt8(ascii: ":") { index += 1 }
        }
        return groups > 8 ? index : nil
    }

    /// Tries every type that can start at `i`, strictest first.
    func matchAt(_ i: Int) -> PIIMatch? {
        let byte = bytes[i]
        if byte &- 0x30 < 10 {
            // The run of digits here and the byte after it rule most types out before their matchers run (each
            // condition is what that matcher itself would find false first: timestamps and counts, the most common
            // digit starts, try no matcher at all or one).
            var runEnd = i + 1
            while runEnd < bytes.count, runEnd - i < 20, bytes[runEnd] &- 0x30 < 10 { runEnd += 1 }
            let run = runEnd - i
            let next = at(runEnd)
            let dash = next == UInt8(ascii: "-"), space = next == UInt8(ascii: " "), dot = next == UInt8(ascii: ".")
            // A card has 13+ digits: in this run, or in groups after a space or dash.
            if run >= 13 || ((space || dash) && isDigit(runEnd + 1)), let end = matchCard(i) {
                return PIIMatch(start: i, end: end, type: .creditCard)
            }
            if run == 3, dash, let end = matchSSN(i) { return PIIMatch(start: i, end: end, type: .ssn) }
            if run <= 3, dot, let end = matchIPv4(i), isEndBoundary(end) || at(end) == UInt8(ascii: ":") {
                return PIIMatch(start: i, end: end, type: .ipAddress)
            }
            // NXX-…, NXX.…, NXX …, 555-0199, and 1-800-… / 1 (800) …
            if run == 3 || (run == 1 && byte == UInt8(ascii: "1")), dash || space || dot, let end = matchPhone(i) {
                return PIIMatch(start: i, end: end, type: .phone)
            }
            // A first group of at most four hex digits, continued by hex letters or followed by a colon.
            if run <= 4, next == UInt8(ascii: ":") || flags(next) & ByteClass.hexLetter != 0, let end = matchIPv6(i) {
                return PIIMatch(start: i, end: end, type: .ipAddress)
            }
            return nil
        }
        if byte == UInt8(ascii: "+") || byte == UInt8(ascii: "(") {
            if let end = matchPhone(i) { return PIIMatch(start: i, end: end, type: .phone) }
            return nil
        }
        if byte >= UInt8(ascii: "A"), let match = matchSecret(i) { return match }
        if hexGroupThenColon(i), let end = matchIPv6(i) { return PIIMatch(start: i, end: end, type: .ipAddress) }
        return nil
    }

    /// Whether one to four hex digits at `i` are followed by `:`, or `i` starts `::`: how an IPv6 address and an
    /// overlong hex chain begin (both matchers find this false first; most words that start with a hex letter,
    /// like `error` or `failed`, are ruled out here).
    @inline(__always) func hexGroupThenColon(_ i: Int) -> Bool {
        var index = i
        while index - i < 5, isHexDigit(index) { index += 1 }
        let length = index - i
        guard length > 0 else { return at(i) == UInt8(ascii: ":") && at(i + 1) == UInt8(ascii: ":") }
        return length <= 4 && at(index) == UInt8(ascii: ":")
    }
}
