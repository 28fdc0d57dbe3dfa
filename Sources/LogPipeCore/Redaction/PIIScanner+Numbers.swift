extension PIIScanner {
    // MARK: - Credit cards

    /// 13–19 digits, in one run or grouped as cards are printed (4-4-4-4, 4-6-5, …) with one kind of
    /// separator (space or dash), with a real issuer prefix and length and a valid Luhn sum. Shorter runs
    /// ending at a group boundary are tried too (`4111 1111 1111 1111 2024`), 16 digits first, so a following
    /// short number is not taken for the tail of a 19-digit card. Allocation-free: it runs at every number.
    func matchCard(_ start: Int) -> Int? {
        var ends = InlineArray<6, Int>(repeating: 0)
        var totals = InlineArray<6, Int>(repeating: 0)
        var pattern = 0  // group sizes as decimal digits: 4-4-4-4 is 4444
        var groups = 0
        var total = 0
        var separator: UInt8 = 0
        var index = start
        while groups < 6 {
            let groupStart = index
            while isDigit(index), index - groupStart < 20 { index += 1 }
            let length = index - groupStart
            guard length > 0, groups == 0 || length <= 8, total + length <= 19 else { break }
            total += length
            ends[groups] = index
            totals[groups] = total
            pattern = groups == 0 ? min(length, 9) : pattern * 10 + length
            groups += 1
            if groups > 1, length < 3 { break }  // a short group only ends a number
            let next = at(index)
            guard next == UInt8(ascii: " ") || next == UInt8(ascii: "-"), separator == 0 || separator == next,
                isDigit(index + 1)
            else { break }
            separator = next
            index += 1
        }
        guard groups > 0, totals[groups - 1] >= 13 else { return nil }
        // The 16-digit candidate first, then the others from the longest down.
        var sixteen = -1
        for candidate in 0..<groups where totals[candidate] == 16 { sixteen = candidate }
        if sixteen >= 0, let end = cardCandidate(start, ends[sixteen], totals[sixteen], groups: sixteen + 1, pattern: pattern, of: groups) {
            return end
        }
        var candidate = groups - 1
        while candidate >= 0, totals[candidate] >= 13 {
            if candidate != sixteen,
                let end = cardCandidate(start, ends[candidate], totals[candidate], groups: candidate + 1, pattern: pattern, of: groups)
            {
                return end
            }
            candidate -= 1
        }
        return nil
    }

    /// Checks the first `groups` groups (ending at `end`, `count` digits) as a card number.
    private func cardCandidate(_ start: Int, _ end: Int, _ count: Int, groups: Int, pattern: Int, of allGroups: Int) -> Int? {
        guard (13...19).contains(count), isEndBoundary(end) else { return nil }
        if groups > 1 {
            var prefixPattern = pattern
            for _ in groups..<allGroups { prefixPattern /= 10 }
            guard Self.isCardGrouping(prefixPattern) else { return nil }
        }
        // Issuer prefix (first six digits) and Luhn sum, straight from the bytes.
        var prefix6 = 0
        var seen = 0
        var index = start
        while seen < 6 {
            if isDigit(index) {
                prefix6 = prefix6 * 10 + digitValue(index)
                seen += 1
            }
            index += 1
        }
        guard Self.isIssuer(prefix6: prefix6, length: count) else { return nil }
        var sum = 0
        var position = 0
        index = end - 1
        while index >= start {
            if isDigit(index) {
                let digit = digitValue(index)
                if position & 1 == 1 {
                    let doubled = digit * 2
                    sum += doubled > 9 ? doubled - 9 : doubled
                } else {
                    sum += digit
                }
                position += 1
            }
            index -= 1
        }
        return sum % 10 == 0 ? end : nil
    }

    /// How card numbers are printed in groups (sizes as decimal digits).
    static func isCardGrouping(_ pattern: Int) -> Bool {
        switch pattern {
        case 4444, 44443, 44442, 44441, 44444, 465, 464, 445, 4443, 4442, 4441: true
        default: false
        }
    }

    /// Issuer prefixes and lengths: Visa, Mastercard (51–55, 2221–2720), Amex, Discover, JCB, Diners, UnionPay.
    static func isIssuer(prefix6: Int, length: Int) -> Bool {
        let p2 = prefix6 / 10_000, p3 = prefix6 / 1000, p4 = prefix6 / 100
        if prefix6 / 100_000 == 4 { return length == 13 || length == 16 || length == 19 }  // Visa
        if (51...55).contains(p2) || (2221...2720).contains(p4) { return length == 16 }  // Mastercard
        if p2 == 34 || p2 == 37 { return length == 15 }  // Amex
        if p4 == 6011 || (644...649).contains(p3) || p2 == 65 || (622_126...622_925).contains(prefix6) {
            return (16...19).contains(length)  // Discover
        }
        if (3528...3589).contains(p4) { return (16...19).contains(length) }  // JCB
        if (300...305).contains(p3) || p2 == 36 || p2 == 38 || p2 == 39 { return (14...19).contains(length) }  // Diners
        if p2 == 62 || p2 == 81 { return (16...19).contains(length) }  // UnionPay
        return false
    }

    // MARK: - SSN

    /// `AAA-GG-SSSS`: area not 000, 666 or 9xx; group not 00; serial not 0000.
    func matchSSN(_ start: Int) -> Int? {
        guard let area = number(start, 3), at(start + 3) == UInt8(ascii: "-"), let group = number(start + 4, 2),
            at(start + 6) == UInt8(ascii: "-"), let serial = number(start + 7, 4), isEndBoundary(start + 11)
        else { return nil }
        guard area != 0, area != 666, area < 900, group != 0, serial != 0 else { return nil }
        return start + 11
    }

    /// Exactly `count` digits at `start` (not followed by another digit) as a number.
    func number(_ start: Int, _ count: Int) -> Int? {
        var value = 0
        for index in start..<start + count {
            guard isDigit(index) else { return nil }
            value = value * 10 + digitValue(index)
        }
        return isDigit(start + count) ? nil : value
    }

    // MARK: - IPv4

    /// Four decimal octets 0–255 (1–3 digits each); returns the end of the last octet. A `:port` after it
    /// stays in the text.
    func matchIPv4(_ start: Int) -> Int? {
        var index = start
        for octet in 0..<4 {
            var value = 0
            let octetStart = index
            while isDigit(index), index - octetStart < 3 {
                value = value * 10 + digitValue(index)
                index += 1
            }
            guard index > octetStart, value <= 255, !isDigit(index) else { return nil }
            if octet < 3 {
                guard at(index) == UInt8(ascii: "."), isDigit(index + 1) else { return nil }
                index += 1
            }
        }
        if at(index) == UInt8(ascii: "."), isDigit(index + 1) { return nil }  // 1.2.3.4.5 is not an address
        return index
    }

    // MARK: - Phones

    /// North-American numbers (`555-0199`, `(555) 123-4567`, `555.123.4567`, `555 123 4567`, `1-800-555-0199`,
    /// `+1 555 123 4567`) and E.164 international numbers (`+44 20 7946 0958`, `+4930901820`).
    func matchPhone(_ start: Int) -> Int? {
        let first = bytes[start]
        if first == UInt8(ascii: "+") { return matchInternational(start) }
        if first == UInt8(ascii: "(") { return matchNorthAmerican(start) }
        // 1-800-555-0199, 1 (800) 555-0199
        if first == UInt8(ascii: "1"), !isDigit(start + 1) {
            let separator = at(start + 1)
            if separator == UInt8(ascii: "-") || separator == UInt8(ascii: " ") || separator == UInt8(ascii: "."),
                let end = matchNorthAmerican(start + 2)
            {
                return end
            }
        }
        if let end = matchNorthAmerican(start) { return end }
        // 555-0199: exchange and line only, dash only.
        if let exchange = number(start, 3), exchange >= 200, at(start + 3) == UInt8(ascii: "-"),
            number(start + 4, 4) != nil, isEndBoundary(start + 8)
        {
            return start + 8
        }
        return nil
    }

    /// `NXX s XXX s XXXX` with one separator kind (`-`, `.`, space), or `(NXX) XXX-XXXX` / `(NXX)XXX-XXXX`;
    /// the area code starts with 2–9 (the exchange may be a fictional `123`, as in documentation and tests).
    func matchNorthAmerican(_ start: Int) -> Int? {
        var index = start
        let separator: UInt8?
        if at(index) == UInt8(ascii: "(") {
            guard let area = number(index + 1, 3), area >= 200, at(index + 4) == UInt8(ascii: ")") else { return nil }
            index += 5
            if at(index) == UInt8(ascii: " ") { index += 1 }
            separator = nil
        } else {
            guard let area = number(index, 3), area >= 200 else { return nil }
            let next = at(index + 3)
            guard next == UInt8(ascii: "-") || next == UInt8(ascii: ".") || next == UInt8(ascii: " ") else { return nil }
            separator = next
            index += 4
        }
        guard number(index, 3) != nil else { return nil }
        index += 3
        let next = at(index)
        if let separator {
            guard next == separator else { return nil }
        } else {
            guard next == UInt8(ascii: "-") || next == UInt8(ascii: ".") || next == UInt8(ascii: " ") else { return nil }
        }
        guard number(index + 1, 4) != nil, isEndBoundary(index + 5) else { return nil }
        return index + 5
    }

    /// `+` and 8–15 digits in groups joined by single spaces, dashes or dots; `+1` must be a North-American
    /// number. The first digit (country code) is 1–9; a one-digit group is allowed only second. The number
    /// does not swallow a following card, SSN or IPv4 address (`+49 30 901820 4111 1111 1111 1111`).
    func matchInternational(_ start: Int) -> Int? {
        guard isDigit(start + 1), at(start + 1) != UInt8(ascii: "0") else { return nil }
        if at(start + 1) == UInt8(ascii: "1") {
            let separator = at(start + 2)
            if separator == UInt8(ascii: " ") || separator == UInt8(ascii: "-") || separator == UInt8(ascii: ".") {
                return matchNorthAmerican(start + 3)
            }
            return number(start + 1, 11) != nil && isEndBoundary(start + 12) ? start + 12 : nil  // +15551234567
        }
        var index = start + 1
        var digits = 0
        var groups = 0
        var lastGoodEnd: Int?
        while true {
            let groupStart = index
            while isDigit(index), digits < 16 {
                digits += 1
                index += 1
            }
            groups += 1
            // Only the area code after the country code may be a single digit (+33 1 23 45 67 89).
            guard index > groupStart, digits <= 15, index - groupStart > 1 || groups == 2 else { break }
            if digits >= 8, isEndBoundary(index) || at(index) == UInt8(ascii: " ") { lastGoodEnd = index }
            let next = at(index)
            guard next == UInt8(ascii: " ") || next == UInt8(ascii: "-") || next == UInt8(ascii: "."), isDigit(index + 1)
            else { break }
            if digits >= 8,
                matchCard(index + 1) != nil || matchSSN(index + 1) != nil || matchIPv4(index + 1) != nil
                    || matchPhone(index + 1) != nil || matchIPv6(index + 1) != nil
            {
                break
            }
            index += 1
        }
        return lastGoodEnd
    }
}
