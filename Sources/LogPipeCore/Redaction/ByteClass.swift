/// A 256-entry table of byte classes, so the scanner's hot loop is one load and one test per byte.
struct ByteClass {
    static let digit: UInt8 = 1 << 0
    static let hexLetter: UInt8 = 1 << 1
    /// Letters, digits, `_` and every non-ASCII byte: bytes that continue a word.
    static let word: UInt8 = 1 << 2
    /// Bytes a match may follow: anything but word bytes and the joiners `. - + # $ % & \ ^ ~ ` ! ?`.
    static let startBoundary: UInt8 = 1 << 3
    /// Bytes that can begin a match at a boundary: digits, hex letters, `+`, `(`, `:`, and the first letters of
    /// fixed-prefix tokens (`g`, `r`, `s`, `x`).
    static let trigger: UInt8 = 1 << 4
    /// Characters allowed in the local part of an email address (`A-Z a-z 0-9 . _ % + -`, non-ASCII).
    static let emailLocal: UInt8 = 1 << 5
    /// Characters of a domain label (`A-Z a-z 0-9 -`, non-ASCII).
    static let domain: UInt8 = 1 << 6
    /// Bytes with a matcher of their own wherever they are: `@` (emails, URL passwords) and `-` (private keys).
    static let special: UInt8 = 1 << 7

    static let table: [UInt8] = {
        var table = [UInt8](repeating: 0, count: 256)
        for byte in 0..<256 {
            let c = UInt8(byte)
            var flags: UInt8 = 0
            let isDigit = (0x30...0x39).contains(c)
            let isLetter = (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
            if isDigit { flags |= digit | trigger | emailLocal | domain }
            if (0x41...0x46).contains(c) || (0x61...0x66).contains(c) { flags |= hexLetter | trigger }
            // Non-ASCII bytes: internationalised addresses (RFC 6531), so `müller@…` is masked whole.
            if isLetter || c >= 0x80 { flags |= emailLocal | domain }
            if isDigit || isLetter || c == UInt8(ascii: "_") || c >= 0x80 { flags |= word }
            if c == UInt8(ascii: "+") || c == UInt8(ascii: "(") || c == UInt8(ascii: ":") { flags |= trigger }
            if c == UInt8(ascii: ".") || c == UInt8(ascii: "_") || c == UInt8(ascii: "%") || c == UInt8(ascii: "+")
                || c == UInt8(ascii: "-")
            {
                flags |= emailLocal
            }
            if c == UInt8(ascii: "-") { flags |= domain }
            if c == UInt8(ascii: "g") || c == UInt8(ascii: "r") || c == UInt8(ascii: "s") || c == UInt8(ascii: "x") { flags |= trigger }
            if c == UInt8(ascii: "@") || c == UInt8(ascii: "-") { flags |= special }
            let joiners: [UInt8] = Array(".-+#$%&\\^~`!?".utf8)
            if flags & word == 0 && !joiners.contains(c) { flags |= startBoundary }
            table[byte] = flags
        }
        return table
    }()
}
