extension PIIScanner {
    /// IPv6 in full (8 groups), compressed (`::`), IPv4-mapped (`::ffff:192.0.2.1`) and zone-id
    /// (`fe80::1%eth0`) forms. Greedy, without backtracking; a trailing `:` that starts no group is left out.
    /// Times (`10:00:00`) and MAC addresses (6 groups) are not addresses: without `::` it takes 8 groups.
    func matchIPv6(_ start: Int) -> Int? {
        var index = start
        var groups = 0
        var compressed = false
        if at(index) == UInt8(ascii: ":") {
            guard at(index + 1) == UInt8(ascii: ":") else { return nil }
            compressed = true
            index += 2
        }
        while true {
            // An embedded IPv4 address (two groups' worth) ends the address.
            if isDigit(index), compressed ? groups <= 5 : groups == 6, let end = matchIPv4(index) {
                groups += 2
                index = end
                break
            }
            let groupStart = index
            while index - groupStart < 4, isHexDigit(index) { index += 1 }
            if index == groupStart {
                // Nothing after "::" (as in "fe80::"): the address ends there.
                guard compressed, index >= 2, bytes[index - 1] == UInt8(ascii: ":"), bytes[index - 2] == UInt8(ascii: ":") else { return nil }
                break
            }
            // A fifth hex digit or a letter right after the group: a hash or a word, not an address.
            if index < bytes.count, flags(bytes[index]) & ByteClass.word != 0 { return nil }
            groups += 1
            guard groups <= 8 else { return nil }
            if at(index) == UInt8(ascii: ":"), at(index + 1) == UInt8(ascii: ":") {
                guard !compressed else { return nil }
                compressed = true
                index += 2
            } else if at(index) == UInt8(ascii: ":"), isHexDigit(index + 1) {
                index += 1
            } else {
                break
            }
        }
        guard compressed ? (1...7).contains(groups) : groups == 8 else { return nil }
        // Zone id: %eth0 (or %25eth0 inside a URL).
        if at(index) == UInt8(ascii: "%") {
            var zoneEnd = index + 1
            while zoneEnd - index <= 32, zoneEnd < bytes.count,
                flags(bytes[zoneEnd]) & ByteClass.word != 0 || bytes[zoneEnd] == UInt8(ascii: ".")
            { zoneEnd += 1 }
            if zoneEnd > index + 1 { index = zoneEnd }
        }
        return isEndBoundary(index) ? index : nil
    }

    @inline(__always) func isHexDigit(_ index: Int) -> Bool {
        index < bytes.count && flags(bytes[index]) & (ByteClass.digit | ByteClass.hexLetter) != 0
    }
}
