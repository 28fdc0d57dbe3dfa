/// A set of Unicode scalars as sorted, disjoint ranges, with a bitmap for ASCII (the usual case in logs).
struct ScalarSet: Sendable, Hashable {
    /// Sorted, disjoint, non-adjacent closed ranges of scalar values.
    private(set) var ranges: [ClosedRange<UInt32>] = []
    private var asciiLow: UInt64 = 0
    private var asciiHigh: UInt64 = 0

    init() {}

    init(_ scalars: [Unicode.Scalar]) {
        self.init(ranges: scalars.map { $0.value...$0.value })
    }

    static let maxScalar: UInt32 = 0x10FFFF

    static let any = ScalarSet(ranges: [0...maxScalar])
    static let digits = ScalarSet(ranges: [48...57])
    static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
    static let space = ScalarSet(ranges: [9...10, 12...13, 32...32])
    /// The POSIX names RE2 knows inside brackets (`[[:alpha:]]`), ASCII only as in RE2.
    static let named: [String: ScalarSet] = [
        "alnum": ScalarSet(ranges: [48...57, 65...90, 97...122]), "alpha": ScalarSet(ranges: [65...90, 97...122]),
        "ascii": ScalarSet(ranges: [0...127]), "blank": ScalarSet(ranges: [9...9, 32...32]),
        "cntrl": ScalarSet(ranges: [0...31, 127...127]), "digit": digits, "graph": ScalarSet(ranges: [33...126]),
        "lower": ScalarSet(ranges: [97...122]), "print": ScalarSet(ranges: [32...126]),
        "punct": ScalarSet(ranges: [33...47, 58...64, 91...96, 123...126]), "space": ScalarSet(ranges: [9...13, 32...32]),
        "upper": ScalarSet(ranges: [65...90]), "word": word, "xdigit": ScalarSet(ranges: [48...57, 65...70, 97...102]),
    ]

    /// The union of `ranges`, merged in one pass.
    init(ranges: [ClosedRange<UInt32>]) {
        var merged: [ClosedRange<UInt32>] = []
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = merged.last, range.lowerBound <= last.upperBound &+ 1 {
                merged[merged.count - 1] = last.lowerBound...max(last.upperBound, range.upperBound)
            } else {
                merged.append(range)
            }
        }
        self.ranges = merged
        for range in merged where range.lowerBound <= 127 {
            for value in range.lowerBound...min(range.upperBound, 127) {
                if value < 64 { asciiLow |= 1 << UInt64(value) } else { asciiHigh |= 1 << UInt64(value - 64) }
            }
        }
    }

    /// One scalar, with its other cases when `caseInsensitive`.
    static func literal(_ scalar: Unicode.Scalar, caseInsensitive: Bool) -> ScalarSet {
        var set = ScalarSet([scalar])
        if caseInsensitive { set = set.caseFolded }
        return set
    }

    /// The one scalar this set holds, if it holds exactly one.
    var singleScalar: Unicode.Scalar? {
        guard ranges.count == 1, ranges[0].lowerBound == ranges[0].upperBound else { return nil }
        return Unicode.Scalar(ranges[0].lowerBound)
    }

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        let value = scalar.value
        if value < 64 { return asciiLow & (1 << UInt64(value)) != 0 }
        if value < 128 { return asciiHigh & (1 << UInt64(value - 64)) != 0 }
        var low = 0
        var high = ranges.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if ranges[middle].upperBound < value {
                low = middle + 1
            } else if ranges[middle].lowerBound > value {
                high = middle - 1
            } else {
                return true
            }
        }
        return false
    }

    mutating func insert(_ range: ClosedRange<Unicode.Scalar>) {
        self = ScalarSet(ranges: ranges + [range.lowerBound.value...range.upperBound.value])
    }

    mutating func formUnion(_ other: ScalarSet) {
        self = ScalarSet(ranges: ranges + other.ranges)
    }

    /// Everything not in this set.
    var inverted: ScalarSet {
        var gaps: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges {
            if range.lowerBound > next { gaps.append(next...(range.lowerBound - 1)) }
            next = range.upperBound + 1
        }
        if next <= Self.maxScalar { gaps.append(next...Self.maxScalar) }
        return ScalarSet(ranges: gaps)
    }

    func subtracting(_ other: ScalarSet) -> ScalarSet {
        // A ∖ B = ¬(¬A ∪ B)
        var result = inverted
        result.formUnion(other)
        return result.inverted
    }

    /// With the other case of every letter: ASCII letters, and other scalars whose simple case mapping is a
    /// single scalar (ranges of up to 4,096 scalars are folded one by one; larger ones are kept as they are).
    /// At most 20,000 scalars are folded in all (a pattern is at most 1,000 bytes, so this is plenty for what
    /// people write); the rest of a larger set is kept as it is.
    var caseFolded: ScalarSet {
        var extra: [ClosedRange<UInt32>] = []
        var budget = 20_000
        for range in ranges where budget > 0 {
            let upper = min(range.upperBound, range.lowerBound + UInt32(min(budget, 4_096) - 1))
            budget -= Int(upper - range.lowerBound) + 1
            for value in range.lowerBound...upper {
                guard let scalar = Unicode.Scalar(value) else { continue }
                let properties = scalar.properties
                for variant in [properties.lowercaseMapping, properties.uppercaseMapping, properties.titlecaseMapping] {
                    let variants = variant.unicodeScalars
                    if variants.count == 1, let other = variants.first, other != scalar { extra.append(other.value...other.value) }
                }
            }
        }
        return ScalarSet(ranges: ranges + extra)
    }
}
