extension PIIScanner {
    static let maxLocalLength = 64
    static let maxDomainLength = 253

    /// An address around the `@` at `at`: a local part of `A-Z a-z 0-9 . _ % + -` (no leading, trailing or
    /// doubled dot, at most 64 bytes) and a domain of at least two labels whose last is 2+ letters.
    /// Earlier matches inside the local part give way to the address (`555-0199@example.com` is an email).
    func matchEmail(at: Int, after matches: inout [PIIMatch]) -> PIIMatch? {
        var start = at
        while start > 0, at - start < Self.maxLocalLength, flags(bytes[start - 1]) & ByteClass.emailLocal != 0 { start -= 1 }
        if start > 0, flags(bytes[start - 1]) & ByteClass.emailLocal != 0 { return nil }  // longer than 64: not an address
        if start > 0, bytes[start - 1] == UInt8(ascii: "@") { return nil }
        var keep = matches.count
        while keep > 0, matches[keep - 1].start >= start { keep -= 1 }
        if keep > 0, matches[keep - 1].end > start { start = matches[keep - 1].end }
        while start < at, bytes[start] == UInt8(ascii: ".") { start += 1 }
        guard start < at, bytes[at - 1] != UInt8(ascii: "."), !hasDoubleDot(start, at) else { return nil }
        guard let end = matchDomain(at + 1) else { return nil }
        matches.removeSubrange(keep...)
        return PIIMatch(start: start, end: end, type: .email)
    }

    private func hasDoubleDot(_ start: Int, _ end: Int) -> Bool {
        var index = start + 1
        while index < end {
            if bytes[index] == UInt8(ascii: "."), bytes[index - 1] == UInt8(ascii: ".") { return true }
            index += 1
        }
        return false
    }

    /// Labels of `A-Z a-z 0-9 -` (1–63 bytes, no leading or trailing `-`) joined by dots; returns the end of
    /// the last label when there are two or more and the last is a 2+ letter top-level domain.
    private func matchDomain(_ start: Int) -> Int? {
        var index = start
        var labels = 0
        var lastLabelStart = start
        var end: Int?
        while index - start < Self.maxDomainLength {
            let labelStart = index
            while index < bytes.count, flags(bytes[index]) & ByteClass.domain != 0, index - labelStart < 63 { index += 1 }
            guard index > labelStart, bytes[labelStart] != UInt8(ascii: "-"), bytes[index - 1] != UInt8(ascii: "-") else { break }
            labels += 1
            lastLabelStart = labelStart
            if labels >= 2, isTopLevelDomain(lastLabelStart, index) { end = index }
            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "."),
                flags(bytes[index + 1]) & ByteClass.domain != 0
            else { break }
            index += 1
        }
        guard let end, end == index, isEndBoundary(end), at(end) != UInt8(ascii: "_") else { return nil }
        return end
    }

    private func isTopLevelDomain(_ start: Int, _ end: Int) -> Bool {
        guard end - start >= 2 else { return false }
        for index in start..<end {
            let byte = bytes[index] | 0x20
            guard byte >= UInt8(ascii: "a"), byte <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}
